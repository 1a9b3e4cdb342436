"""Lists built by appends, the way CPython programs collect results.

Each round appends RECORDS ints to each of 8 lists in turn, so the lists'
item arrays grow side by side by `realloc`, an eighth at a time (CPython's
over-allocation), to RECORDS * 8 bytes each. Usage: lists.py [rounds
[records]] (20 rounds of 60,000 by default). Prints one line, as
objects.py does: "<wall seconds> <CPU seconds> <peak RSS in KiB>
<checksum>".
"""
import resource
import sys
import time


def main(rounds, records):
    wall, cpu = time.perf_counter(), time.process_time()
    total = 0
    for _ in range(rounds):
        lists = [[] for _ in range(8)]
        for i in range(records):
            for items in lists:
                items.append(i)
        total += sum(len(items) for items in lists)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        "%.3f %.3f %d %d"
        % (time.perf_counter() - wall, time.process_time() - cpu, peak, total)
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*(args + [20, 60000][len(args):]))
