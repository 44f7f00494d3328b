"""Drives the test server with pymongo (a second real client, speaking wire version <= 9).

Usage: /usr/bin/python3 pymongo_check.py <mongodb-uri>
Prints one JSON object per line (relaxed Extended JSON); the jest test checks them.
"""
import sys
import time

from bson import json_util
from pymongo import MongoClient, ReturnDocument


def emit(kind, **fields):
    fields["kind"] = kind
    sys.stdout.write(json_util.dumps(fields, json_options=json_util.RELAXED_JSON_OPTIONS) + "\n")
    sys.stdout.flush()


def main(uri):
    client = MongoClient(uri, serverSelectionTimeoutMS=5000, appname="pymongo-check")
    try:
        info = client.server_info()
        hello = client.admin.command("ismaster")
        emit(
            "server",
            version=info["version"],
            setName=hello.get("setName"),
            maxWireVersion=hello["maxWireVersion"],
        )

        coll = client.pymongo_check.items
        coll.drop()
        stream = coll.watch(full_document="updateLookup", max_await_time_ms=500)

        coll.insert_one({"_id": 1, "name": "one", "tags": ["a"]})
        coll.insert_many([{"_id": 2, "name": "two"}, {"_id": 3, "name": "three"}])
        coll.update_one({"_id": 1}, {"$set": {"name": "uno"}, "$push": {"tags": "b"}})
        coll.replace_one({"_id": 2}, {"name": "dos"})
        coll.delete_one({"_id": 3})
        after = coll.find_one_and_update(
            {"_id": 1}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
        )

        emit("find", docs=list(coll.find({}, sort=[("_id", 1)])))
        emit("count", n=coll.count_documents({}))
        emit("findAndModify", doc=after)

        events = []
        deadline = time.time() + 10
        while len(events) < 7 and time.time() < deadline:
            change = stream.try_next()
            if change is not None:
                events.append(change)
        for change in events:
            emit(
                "event",
                operationType=change["operationType"],
                documentKey=change.get("documentKey"),
                fullDocument=change.get("fullDocument"),
                updateDescription=change.get("updateDescription"),
                ns=change.get("ns"),
                hasToken="_data" in change["_id"],
            )
        emit("resumeToken", present=stream.resume_token is not None)
        stream.close()
        emit("done")
    finally:
        client.close()


if __name__ == "__main__":
    main(sys.argv[1])
