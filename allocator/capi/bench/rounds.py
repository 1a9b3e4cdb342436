"""Times the record-building phase of objects.py round by round.

Runs the rounds of objects.py (objects.one_round) and times records() in
each. The first round builds its records in fresh pools; every later round
builds them in memory the previous round freed, next to the survivors it
kept. Usage: rounds.py [rounds [records]] (4 rounds of 40,000 by default).
Prints one line, "r0=<user s> r1=<user s> ...": the user CPU seconds each
round's records() took.
"""
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import objects  # noqa: E402


def user_seconds():
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def main(rounds=4, count=40000):
    times = []

    def timed_records(n, seed):
        started = user_seconds()
        rows = objects.records(n, seed)
        times.append(user_seconds() - started)
        return rows

    kept = []
    for r in range(rounds):
        objects.one_round(r, count, kept, build=timed_records)
    print(" ".join("r%d=%.4f" % (i, t) for i, t in enumerate(times)))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
