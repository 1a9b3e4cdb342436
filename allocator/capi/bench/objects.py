"""Object-heavy CPython workload for comparing allocators.

Dicts of tuples and strings, JSON dump/load, sorting, reference cycles and
gc.collect(). Usage: objects.py [rounds [records]] (3 rounds of 40,000
records by default; each round also builds a graph of 3/4 as many nodes
in reference cycles). Prints one line:
"<wall seconds> <CPU seconds> <peak RSS in KiB> <checksum>". CPU time
(user + system) is the figure to compare on a shared machine, where wall
time also counts waiting for a core. The checksum shows every allocator
computed the same thing.
"""
import gc
import json
import resource
import sys
import time


class Node:
    __slots__ = ("name", "peers", "payload", "__weakref__")

    def __init__(self, name, payload):
        self.name = name
        self.peers = []
        self.payload = payload


def records(n, seed):
    return [
        {
            "id": i,
            "name": "user%d-%d" % (i, seed),
            "pair": (i, str(i * seed)),
            "tags": ("t%d" % (i % 13), "k%d" % (i % 7), i * 0.5),
            "nested": {"a": [i, i + 1, i + 2], "b": "x" * (i % 40)},
        }
        for i in range(n)
    ]


def round_trip(rows):
    text = json.dumps(rows)
    back = json.loads(text)
    return len(text), back


def cycles(n):
    nodes = [Node("n%d" % i, (i, "p%d" % i)) for i in range(n)]
    for i, node in enumerate(nodes):
        node.peers.append(nodes[(i * 7 + 1) % n])
        node.peers.append(nodes[(i * 13 + 5) % n])
        node.peers.append({"back": node, "index": i})
    del nodes
    return gc.collect()


def one_round(r, count, kept, build=records):
    """Round r: records (made by `build`, records() unless a caller times
    it), JSON, sorting, an index, cycles; appends the survivors to `kept`.
    Returns the round's share of the checksum."""
    checksum = 0
    rows = build(count, r + 1)
    size, back = round_trip(rows)
    checksum += size
    back.sort(key=lambda row: (row["tags"][0], row["name"]))
    checksum += back[0]["id"] + back[-1]["id"]
    index = {row["name"]: tuple(row["pair"]) for row in back}
    words = sorted(index, key=lambda name: name[::-1])
    checksum += len(words[len(words) // 2])
    checksum += cycles(max(1, count * 3 // 4))
    kept.append(rows[:: 50])  # some survivors, as a real program keeps
    del rows, back, index, words
    return checksum


def main(rounds, count=40000):
    checksum = 0
    started = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_at_start = usage.ru_utime + usage.ru_stime
    kept = []
    for r in range(rounds):
        checksum += one_round(r, count, kept)
    checksum += sum(len(k) for k in kept)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_at_start
    print("%.3f %.3f %d %d" % (elapsed, cpu, usage.ru_maxrss, checksum))


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 40000
    main(rounds, count)
