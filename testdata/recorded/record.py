"""Record random conformance scenarios from the Python reference adapter.

Usage: PYTHONPATH=<checkout of Queue-Fair/python> python3 record.py OUTDIR

For each of six seeds it builds 800 random requests (queues, rules, Passed Strings and Cookies, uid
cookies, adapter-server answers), runs each through the reference with a recording Service,
a fixed clock and no network, and keeps one scenario per distinct behaviour. The files use
the format of testdata/conformance (see its README). Left out: scenarios whose URL ends in a
qfq= parameter, where the reference drops the queue name's last character (SPEC section 3,
Port). Where the reference crashes in a debug log line, the expectation is what it does with
debug off (SPEC section 10: logs never fail) and the name ends in -debugcrash.
Five more seeds make "malformed-" scenarios: the same requests with settings keys removed or
given values of the wrong JSON type, and adapter answers likewise; where the reference raises,
the expectation is its calls up to that point and the page running.
"""
import contextlib, hashlib, hmac, io, json, os, random, sys, tempfile, urllib.parse

from queue_fair_adapter.queue_fair_config import QueueFairConfig
from queue_fair_adapter import queue_fair_adapter as qfa
from queue_fair_adapter.queue_fair_adapter import QueueFairAdapter

NOW = 1764000000
SEED = 0
UAS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) [FBAN/FBIOS;FBAV/1]", "curl/8.0", ""]
NAMES = ["main-queue", "vip", "Tickets"]
# Requested URLs: plain, with ports, case, fragments, non-ASCII text (Python's str.lower has
# two surprises: İ and a word-final Σ), and qfq/qfqid in the wrong places.
BASES = [
    "https://shop.example.com/", "https://shop.example.com/checkout/cart",
    "https://shop.example.com/checkout?step=2&sale=yes", "http://Shop.Example.com:8080/Tickets/Event-1",
    "https://www.example.com/launch?event=42", "https://shop.example.com/help#faq",
    "https://shop.example.com/a/b?x=1#frag", "https://shop.example.com?",
    "https://shop.example.com/search?q=a+b%20c&sale", "https://other.example/checkout",
    "https://shop.example.com/İSTANBUL/ΟΔΟΣ?Σ=1&ÜBER", "https://shop.example.com/οδοσ/über",
    "https://ex.example/ü/ß?é=1", "https://shop.example.com/a%20b/c?d=%2F",
    "https://SHOP.EXAMPLE.COM/CHECKOUT?SALE=YES", "https://shop.example.com/x?qfq=vip",
    "https://shop.example.com/p?a=qfqid=&b=2", "https://user@shop.example.com:443/checkout/?",
]
# Rule values.
VALUES = [
    "shop.example.com", "example.com", "/checkout", "checkout", "/", "sale", "event=", "yes", "Tickets",
    "vip", "", "SHOP", "step=2&sale=yes", "/tickets/event-1", "x=1#frag",
    "i\u0307stanbul", "ΟΔΟΣ", "οδος", "über", "ΣΑ",
]


def sign(secret, ua, s):
    return hmac.new(secret.encode(), (QueueFairAdapter.processIdentifier(ua) + s).encode(), hashlib.sha256).hexdigest()


def pass_string(secret, ua, qname, ts, tamper=False):
    body = "qfqid=%s&qfts=%d&qfa=shopco&qfq=%s&qfpt=SafeGuard&" % ("c0ffee-%d" % random.randint(1, 99), ts, qname)
    h = sign(secret, ua, body)
    if tamper:
        h = h[:-1] + ('0' if h[-1] != '0' else '1')
    return body + "qfh=" + h


def rule(first):
    comp = random.choice(["Domain", "Path", "Query", "Cookie"])
    r = {"operator": None if first and random.random() < 0.7 else random.choice(["And", "Or"]),
         "component": comp, "match": random.choice(["Equal", "Contain", "Exist"]),
         "value": random.choice(VALUES), "caseSensitive": random.random() < 0.4, "negate": random.random() < 0.2}
    if comp == "Cookie":
        r["name"] = random.choice(["member", "presale", "QueueFair-Store-shopco"])
        r["value"] = random.choice(["yes", "YES", "", "u:"])
    return r


def queue(name):
    q = {"name": name, "displayName": name.title(), "secret": "sec-" + name,
         "passedLifetimeMinutes": random.choice([20, 20, "15", 1]),
         "queueServer": "shopco.queue-fair.net", "adapterServer": "adapter.queue-fair.net",
         "dynamicTarget": random.choice(["disabled", "disabled", "path", "other"])}
    if random.random() < 0.3:
        q["adapterMode"] = random.choice(["safe", "simple"])
    if random.random() < 0.3:
        q["cookieDomain"] = random.choice(["", ".example.com"])
    x = random.random()
    if x < 0.05:
        pass
    elif x < 0.1:
        q["activation"] = {}
    elif x < 0.13:
        q["activation"] = {"rules": []}
    else:
        q["activation"] = {"rules": [rule(i == 0) for i in range(random.choice([1, 1, 2, 2, 3]))]}
    return q


def cookie_for(q, ua):
    k = random.random()
    secret = q["secret"]
    life = int(q["passedLifetimeMinutes"])
    if k < 0.3:
        return pass_string(secret, ua, q["name"], NOW - random.choice([0, 30, life * 60 - 1]))
    if k < 0.4:
        v = pass_string(secret, ua, q["name"], NOW - 10)
        m = random.choice(["dupts", "plus", "pct", "dupq", "emptyh", "trail", "ts0", "tsfloat", "lead"])
        if m == "dupts": v = v.replace("qfa=", "qfts=1&qfa=")
        if m == "plus": v = v.replace("c0ffee", "c0+ffee")
        if m == "pct": v = v.replace("c0ffee", "c0%20ffee")
        if m == "dupq": v = "qfh=zz&" + v
        if m == "emptyh": v = v.split("qfh=")[0] + "qfh="
        if m == "trail": v = v + "&x=1"
        if m == "ts0": v = v.replace("qfts=", "qfts=0")
        if m == "tsfloat": v = v.replace("&qfa=", ".5&qfa=")
        if m == "lead": v = "x=1&" + v
        return v
    if k < 0.55:
        return pass_string(secret, ua, q["name"], NOW - life * 60 - 5)
    if k < 0.7:
        return pass_string(secret, ua, q["name"], NOW, tamper=True)
    if k < 0.8:
        return "garbage"
    if k < 0.9:
        return pass_string(secret, "other-agent", q["name"], NOW)
    return pass_string("sec-" + random.choice(NAMES), ua, q["name"], NOW)


def scenario(i):
    ua = random.choice(UAS)
    queues = [queue(n) for n in random.sample(NAMES, random.choice([1, 2, 2, 3]))]
    url = random.choice(BASES)
    if random.random() < 0.35:
        q = random.choice(queues + [{"name": "nosuch", "secret": "x", "passedLifetimeMinutes": 20}])
        ts = NOW + random.choice([0, 0, -100, 299, -301, 400])
        ps = pass_string(q["secret"], ua, q["name"], ts, tamper=random.random() < 0.2)
        if random.random() < 0.2:
            ps = ps.replace("&qfh=", "&qfh=&x=")
        sep = "&" if "?" in url.split("#")[0] else "?"
        if "#" in url:
            url = url.split("#")[0]
        url = url + sep + ps
        k2 = random.random()
        if k2 < 0.15:
            url += "&utm=1"
        elif k2 < 0.25:
            url += "#top"
        elif k2 < 0.32:
            url = url.replace("&qfpt=SafeGuard&", "&qfpt=SafeGuard&qfq=" + q["name"] + "&", 1)
        elif k2 < 0.37:
            url = url.replace("qfts=", "qfts=x", 1)
        elif k2 < 0.42:
            url = url.replace("qfq=" + q["name"] + "&", "", 1) + "&qfq=" + q["name"]
        elif k2 < 0.47:
            url = url.replace("qfts=", "qfts=+", 1)
        elif k2 < 0.52:
            url = url.replace("qfqid=", "qfh=abc&qfqid=", 1)
        elif k2 < 0.56:
            url = url.replace("qfqid=", "qfqid=x&qfqid=", 1)
        elif k2 < 0.6:
            url = url.replace("c0ffee", "c0%41ff+ee", 1)
        elif k2 < 0.63:
            url = url.replace("qfts=", "qfts=0", 1)
    cookies = {}
    for q in queues:
        if random.random() < 0.35:
            cookies["QueueFair-Pass-" + q["name"]] = cookie_for(q, ua)
    if random.random() < 0.3:
        cookies["QueueFair-Store-shopco"] = random.choice(["u:abc-123", "u=zz9", "nosep", "u:", "u:abc_123.x~"])
    for c in ["member", "presale"]:
        if random.random() < 0.3:
            cookies[c] = random.choice(["yes", "YES", ""])
    settings = {"queues": queues}
    if random.random() < 0.03:
        settings = None
    cfg = {"account": "shopco", "accountSecret": "acct-secret", "adapterMode": random.choice(["safe", "simple"]),
           "stripPassedString": random.random() < 0.7, "queryTimeLimitSeconds": random.choice([300, 300, 60]),
           "settingsFileCacheLifetimeMinutes": random.choice([5, 5, 0]), "debug": random.choice([False, False, True, "203.0.113.7", "198.51.100.1"])}
    ip = random.choice(["203.0.113.7", "203.0.113.7", "2001:db8::1"])
    # adapter answers for every queue, at the URL Python asks for
    responses = {}
    uid = None
    sc = cookies.get("QueueFair-Store-shopco", "")
    if sc:
        j = sc.find("=")
        if j == -1:
            j = sc.find(":")
        if j != -1:
            uid = sc[j + 1:]
    for q in queues:
        u = "https://adapter.queue-fair.net/adapter/" + q["name"] + "?ipaddress=" + urllib.parse.quote_plus(ip)
        if uid is not None:
            u += "&uid=" + uid
        u += "&identifier=" + urllib.parse.quote_plus(QueueFairAdapter.processIdentifier(ua))
        k = random.random()
        if k < 0.1:
            continue
        if k < 0.15:
            responses[u] = None
        elif k < 0.2:
            responses[u] = {}
        elif k < 0.55:
            r = {"action": "SendToQueue", "location": "https://shopco.queue-fair.net/" + q["name"]}
            if random.random() < 0.6:
                r["uid"] = random.choice(["abc-123", "new-uid-7"])
                r["cookieSeconds"] = 3600
            responses[u] = r
        elif k < 0.95:
            tgt = random.choice(queues)
            v = pass_string(tgt["secret"], ua, tgt["name"], NOW)
            r = {"action": "SafeGuard", "queue": tgt["name"], "validation": urllib.parse.quote(v, safe="") if random.random() < 0.7 else v.replace("c0ffee", "c0+f%20fee")}
            if random.random() < 0.5:
                r["uid"] = random.choice(["abc-123", "new-uid-7"])
                r["cookieSeconds"] = 3600
            responses[u] = r
        else:
            responses[u] = {"uid": "abc-123", "cookieSeconds": 60}
    extra = random.choice([None, None, "", "vip guest"])
    return {"name": "recorded-%d-%04d" % (SEED, i), "config": cfg, "now": NOW, "settings": settings,
            "request": {"url": url, "userAgent": ua, "remoteIP": ip, "cookies": cookies, "extra": extra},
            "adapterResponses": responses}


class Svc:
    def __init__(self, cookies): self.cookies, self.calls = cookies, []
    def setCookie(self, name, value, life, domain):
        self.calls.append({"op": "setCookie", "name": name, "value": value, "lifetimeSeconds": int(life), "domain": domain or ""})
    def redirect(self, loc): self.calls.append({"op": "redirect", "location": loc})
    def getCookie(self, name): return self.cookies.get(name, "")
    def addHeader(self, n, v): self.calls.append({"op": "addHeader", "name": n, "value": v})


def run(sc):
    c = sc["config"]
    QueueFairConfig.ACCOUNT = c["account"]; QueueFairConfig.ACCOUNT_SECRET = c["accountSecret"]
    QueueFairConfig.ADAPTER_MODE = c["adapterMode"]; QueueFairConfig.STRIP_PASSED_STRING = c["stripPassedString"]
    QueueFairConfig.QUERY_TIME_LIMIT_SECONDS = c["queryTimeLimitSeconds"]
    QueueFairConfig.SETTINGS_FILE_CACHE_LIFETIME_MINUTES = c["settingsFileCacheLifetimeMinutes"]
    QueueFairConfig.DEBUG = c["debug"]
    QueueFairConfig.SETTINGS_FILE_CACHE_LOCATION = tempfile.mkdtemp()
    fetches, sleeps = [], []
    settings_url = "https://files.queue-fair.net/%s/%s/queue-fair-settings.json" % (c["account"], c["accountSecret"])
    def urlToJSON(url):
        fetches.append(url)
        if url == settings_url:
            if sc["settings"] is None: raise IOError("down")
            return json.loads(json.dumps(sc["settings"]))
        r = sc["adapterResponses"].get(url)
        if r is None: raise IOError("no answer")
        return json.loads(json.dumps(r))
    QueueFairAdapter.urlToJSON = staticmethod(urlToJSON)
    qfa.time.time = lambda: float(sc["now"])
    qfa.time.sleep = lambda s: sleeps.append(s)
    svc = Svc(sc["request"]["cookies"])
    a = QueueFairAdapter(svc, sc["request"]["url"], sc["request"]["userAgent"], sc["request"]["remoteIP"], sc["request"]["extra"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cont = a.isContinue()
    outcome = "ok"
    if "Exception" in out.getvalue():
        outcome = "exception:" + [l for l in out.getvalue().splitlines() if l.strip()][-1]
    return {"continue": cont, "calls": svc.calls, "fetches": fetches, "sleeps": sleeps, "outcome": outcome}


def trailing_qfq(url):
    i = url.find("qfq=")
    return i != -1 and url.find("&", i) == -1


# Malformed settings and answers: keys removed, values of the wrong JSON type.
QFIELDS = ["secret", "passedLifetimeMinutes", "queueServer", "adapterServer", "dynamicTarget", "displayName", "activation"]
RFIELDS = ["operator", "caseSensitive", "negate", "value", "match", "component", "name"]


ODD = [None, 5, 0, True, False, "", "x", "rules", [], ["rules"], {}, {"a": 1}]


def odd():
    return json.loads(json.dumps(random.choice(ODD)))


def mutate(sc):
    for q in (sc["settings"] or {}).get("queues", []):
        if random.random() < 0.3:
            q.pop(random.choice(QFIELDS), None)
        if random.random() < 0.3:
            q[random.choice(QFIELDS + ["cookieDomain", "adapterMode"])] = odd()
        act = q.get("activation")
        if isinstance(act, dict) and random.random() < 0.05:
            q["activation"] = odd()
        elif isinstance(act, dict) and random.random() < 0.05:
            act["rules"] = odd()
        elif isinstance(act, dict) and isinstance(act.get("rules"), list):
            for i, r in enumerate(act["rules"]):
                x = random.random()
                if x < 0.1:
                    r.pop(random.choice(RFIELDS), None)
                elif x < 0.2:
                    r[random.choice(RFIELDS)] = odd()
                elif x < 0.22:
                    act["rules"][i] = odd()
    for u, r in sc["adapterResponses"].items():
        if r and random.random() < 0.3:
            r.pop(random.choice(list(r)), None)
        if r and random.random() < 0.3:
            r[random.choice(list(r))] = odd()
    return sc


def signature(sc):
    """What a scenario exercises, coarsely: one scenario is kept per signature."""
    e = sc["expect"]
    ops = tuple((c["op"], c.get("name", "")[:15].replace("QueueFair-Pass-", "P"), c.get("lifetimeSeconds", 0) > 0)
                for c in e["calls"])
    if sc["name"].startswith("malformed-"):  # what broke, and how far the reference had got
        return ("malformed", e["outcome"].split(":")[1] if ":" in e["outcome"] else "", e["continue"],
                tuple(c["op"] for c in e["calls"]), len(e["fetches"]))
    return (sc["config"]["adapterMode"], "debugcrash" in sc["name"], e["continue"], ops, len(e["fetches"]),
            len(e["sleeps"]), "qfqid" in sc["request"]["url"], e["outcome"].split(":")[0],
            any(ord(c) > 127 for c in sc["request"]["url"]))


def record(seed, malformed, kept):
    global SEED
    SEED = seed
    random.seed(seed)
    for i in range(800):
        sc = scenario(i)
        if malformed:
            sc = mutate(sc)
            sc["name"] = sc["name"].replace("recorded-", "malformed-")
        if trailing_qfq(sc["request"]["url"]):
            continue
        e = run(sc)
        if e["outcome"] != "ok" and sc["config"]["debug"] is not False:
            quiet = json.loads(json.dumps(sc))
            quiet["config"]["debug"] = False
            e = run(quiet)
            sc["name"] += "-debugcrash"
        if e["outcome"] != "ok" and not malformed and "no answer" not in e["outcome"]:
            continue
        if "KeyError: 'dynamicTarget'" in e["outcome"]:
            continue  # SPEC section 8, Port: a missing dynamicTarget is "disabled"
        if any(not isinstance(c.get(k, ""), str) for c in e["calls"] for k in ("name", "value", "domain", "location")) or \
                any(not isinstance(c.get("lifetimeSeconds", 0), int) for c in e["calls"]):
            continue  # the reference handed the Service a non-string: Go's Service takes strings
        sc["expect"] = e
        kept.setdefault(signature(sc), json.loads(json.dumps(sc)))


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    kept = {}
    for seed in [31, 32, 33, 34, 35, 36]:
        record(seed, False, kept)
    for seed in [61, 62, 63, 64, 65]:
        record(seed, True, kept)
    for sc in kept.values():
        sc["description"] = "random scenario recorded from the Python reference (see README.md)"
        with open(os.path.join(outdir, sc["name"] + ".json"), "w") as f:
            json.dump(sc, f, indent=1, ensure_ascii=False, sort_keys=True)
            f.write("\n")
    print(len(kept), "scenarios written to", outdir)


if __name__ == "__main__":
    main()
