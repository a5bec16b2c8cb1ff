//go:build race

package queuefair

// raceEnabled reports that the race detector is on (see TestHotPathAllocations).
const raceEnabled = true
