"""How long CPython's cycle collector takes to walk a heap of containers.

Builds objects.py's records (dicts of tuples, lists and strings) and their
JSON round trip with the collector off, then times full collections.
Usage: gc_walk.py [records [collections]] (32,000 and 7 by default).
Prints one line: "<first collection ms> <fastest of the rest ms>
<tracked objects>". The first collection also untracks the tuples and
dicts that hold no containers; the rest walk what is left.
"""
import gc
import sys
import time

import objects


def main(count=32000, collections=7):
    gc.disable()
    rows = objects.records(count, 1)
    size, back = objects.round_trip(rows)
    times = []
    for _ in range(collections):
        started = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - started)
    print("%.1f %.1f %d" % (times[0] * 1e3, min(times[1:]) * 1e3, len(gc.get_objects())))
    return size, back


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 32000
    collections = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    main(count, collections)
