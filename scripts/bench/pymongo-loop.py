# The loop people write by hand with pymongo: watch(), json_util.dumps (relaxed), print.
#   /usr/bin/python3 scripts/bench/pymongo-loop.py URI DB COLL TOKEN N
# TOKEN is the resume token as Extended JSON; the loop stops after N events.
import sys

from bson.json_util import RELAXED_JSON_OPTIONS, dumps, loads
from pymongo import MongoClient

uri, db, coll, token, limit = sys.argv[1:6]
client = MongoClient(uri)
n = 0
with client[db][coll].watch(resume_after=loads(token)) as stream:
    for change in stream:
        print(dumps(change, json_options=RELAXED_JSON_OPTIONS))
        n += 1
        if n == int(limit):
            break
client.close()
