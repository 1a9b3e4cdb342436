"""Times the record-building phase of objects.py round by round.

The first round builds its records in fresh pools; every later round
builds them in memory the previous round freed, next to the survivors it
kept. Usage: rounds.py [rounds [records]] (4 rounds of 40,000 by default).
Prints one line, "r0=<user s> r1=<user s> ...": the user CPU seconds each
round's records() took.
"""
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import objects  # noqa: E402


def user_seconds():
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def main(rounds=4, count=40000):
    times = []
    kept = []
    for r in range(rounds):
        started = user_seconds()
        rows = objects.records(count, r + 1)
        times.append(user_seconds() - started)
        text = json.dumps(rows)
        back = json.loads(text)
        back.sort(key=lambda row: (row["tags"][0], row["name"]))
        objects.cycles(max(1, count * 3 // 4))
        kept.append(rows[::50])
        del rows, back, text
    print(" ".join("r%d=%.4f" % (i, t) for i, t in enumerate(times)))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
