# compare.py REPORT.json [HTTP...]: per-device counts of a fleetwire load
# report against the /api/devices of one or more fleetwire servers.
import json, sys, urllib.request
rep = json.load(open(sys.argv[1]))
srv = {}
for base in sys.argv[2:] or ["http://127.0.0.1:7080"]:
    off = 0
    while True:
        d = json.load(urllib.request.urlopen(f"{base}/api/devices?offset={off}&limit=5000"))
        for x in d["devices"]:
            srv[x["id"]] = x
        off += len(d["devices"])
        if not d["devices"] or off >= d["total"]:
            break
bad = 0
for g in rep["per_device"]:
    s = srv.get(g["device"])
    if s is None or s["frames"] != g["frames"] or s["readings"] != g["readings"] or s["next_seq"] != g["next_seq"] or not s["eos"] or s["lost"]:
        bad += 1
        if bad <= 5:
            print("mismatch", g, s and {k: s[k] for k in ("frames", "readings", "next_seq", "eos", "lost")})
print(f"devices: generator {len(rep['per_device'])}, servers {len(srv)}; mismatched {bad}")
print(f"frames: generator {rep['frames_sent']}, servers {sum(x['frames'] for x in srv.values())}; "
      f"readings: generator {rep['readings_sent']}, servers {sum(x['readings'] for x in srv.values())}; "
      f"lost at servers {sum(x['lost'] for x in srv.values())}")
