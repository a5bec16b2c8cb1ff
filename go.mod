module github.com/queuefair/queuefair

go 1.22
