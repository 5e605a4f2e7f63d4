# Python HTTP client requests for botcorpus captures: python3 pyclient.py LIB
import json, os, ssl, sys
lib = sys.argv[1]
H, P, CA = os.environ["HTTPS"], os.environ["HTTP"], os.environ["CA"]
UA = os.environ.get("UA_MODE", "")
BH = os.environ.get("BROWSER_HEADERS", "")
BS = os.environ.get("BROWSER_SET", "")  # copied mode: a browser's complete header set (copied/*.json)
reqs = [
    ("GET", H + "/", None, {}),
    ("GET", H + "/products?page=2", None, {}),
    ("GET", H + "/api/items", None, {"Accept": "application/json", "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok"}),
    ("POST", H + "/api/events", {"json": {"event": "view"}}, {}),
    ("GET", H + "/account", None, {"Cookie": "session=8f14e45fceea167a"}),
    ("HEAD", H + "/", None, {}),
    ("GET", P + "/", None, {}),
    ("POST", P + "/login", {"data": {"user": "alice", "pass": "secret"}}, {}),
]
if BS:
    # Copied mode: the script sends the browser's headers whole, as a dict in
    # the browser's order, to four pages over HTTPS and one over plain http.
    COPIED = json.load(open(BS))["headers"]
    reqs = [("GET", H + p, None, {}) for p in ("/", "/products?page=2", "/search?q=green+tea", "/products/4711")]
    reqs.append(("GET", P + "/", None, {}))
def hdrs(extra):
    h = {}
    if BS:
        for k, v in COPIED:
            h[k] = v
    if BH:
        h["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
        h["Accept-Language"] = "en-US,en;q=0.9"
    h.update(extra)
    if UA == "empty":
        h["User-Agent"] = None
    elif UA:
        h["User-Agent"] = UA
    return h
if lib == "requests":
    import requests
    s = requests.Session()
    for m, u, b, e in reqs:
        h = hdrs(e)
        s.request(m, u, headers=h, verify=CA, **(b or {}))
elif lib == "httpx":
    import httpx
    with httpx.Client(verify=CA, http2=os.environ.get("HTTP2") == "1") as c:
        for m, u, b, e in reqs:
            h = {k: v for k, v in hdrs(e).items() if v is not None}
            c.request(m, u, headers=h, **(b or {}))
elif lib == "aiohttp":
    import asyncio, aiohttp
    async def main():
        ctx = ssl.create_default_context(cafile=CA)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
            for m, u, b, e in reqs:
                h = {k: v for k, v in hdrs(e).items() if v is not None}
                async with s.request(m, u, headers=h, **(b or {})) as r:
                    await r.read()
    asyncio.run(main())
elif lib == "urllib":
    import urllib.request, urllib.parse
    ctx = ssl.create_default_context(cafile=CA)
    for m, u, b, e in reqs:
        data = None
        h = {k: v for k, v in hdrs(e).items() if v is not None}
        if b and "json" in b:
            data = json.dumps(b["json"]).encode(); h["Content-Type"] = "application/json"
        elif b:
            data = urllib.parse.urlencode(b["data"]).encode()
        r = urllib.request.Request(u, data=data, headers=h, method=m)
        urllib.request.urlopen(r, context=ctx).read()
elif lib == "urllib3":
    import urllib3
    pm = urllib3.PoolManager(ca_certs=CA)
    for m, u, b, e in reqs:
        h = {k: v for k, v in hdrs(e).items() if v is not None}
        if UA == "empty":
            h["User-Agent"] = urllib3.util.SKIP_HEADER
        if b and "json" in b:
            pm.request(m, u, json=b["json"], headers=h)
        elif b:
            pm.request(m, u, fields=b["data"], headers=h, encode_multipart=False)
        else:
            pm.request(m, u, headers=h)
elif lib == "raw":
    # raw sockets: what the simplest scripts send
    import socket
    hp = P.split("//")[1]
    host, port = hp.split(":")
    for req in [b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % hp.encode(),
                b"GET /products?page=2 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % hp.encode(),
                b"GET / HTTP/1.0\r\n\r\n",
                b"GET /api/items HTTP/1.1\r\nHost: %s\r\nUser-Agent: \r\n\r\n" % hp.encode(),
                b"HEAD / HTTP/1.0\r\n\r\n"]:
        s = socket.create_connection((host, int(port)))
        s.sendall(req)
        s.settimeout(5)
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d: break
                data += d
                if b"Connection: close" not in req and req.startswith(b"GET / HTTP/1.1") and b"</html>" in data: break
                if req.startswith(b"GET /api") and data.endswith(b"}\n"): break
        except socket.timeout:
            pass
        s.close()
    ctx = ssl.create_default_context(cafile=CA)
    hp = H.split("//")[1]
    host, port = hp.split(":")
    s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
    s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % hp.encode())
    while s.recv(65536): pass
    s.close()
