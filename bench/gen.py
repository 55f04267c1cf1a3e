#!/usr/bin/env python3
"""Writes an Android bulk-enrollment CSV of N rows to stdout: valid, distinct IMEIs (Luhn), serial numbers,
manufacturers and two custom attributes. Deterministic.

    gen.py N [START] [sequential|random]

START offsets the numbering (files with different STARTs share no device); `random` shuffles the rows
(a fixed seed), so that IMEIs arrive in random order rather than ascending."""
import random
import sys

def luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)

def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    start = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    order = sys.argv[3] if len(sys.argv) > 3 else "sequential"
    makers = ["Samsung", "Zebra", "Google", "Honeywell", "Lenovo", "Motorola"]
    numbers = list(range(start, start + n))
    if order == "random":
        random.Random(42).shuffle(numbers)
    elif order != "sequential":
        sys.exit(f"order must be sequential or random, got {order!r}")
    out = sys.stdout
    out.write("IMEI,Serial Number,Manufacturer,Asset Tag,Department\n")
    for i in numbers:
        body = "35%012d" % (i * 7 + 1000)
        out.write("%s%s,SN%010d,%s,A-%07d,Dept %d\n" % (body, luhn(body), i, makers[i % 6], i, i % 40))

if __name__ == "__main__":
    main()
