#!/usr/bin/env python3
"""Whether two loupe.explanation/v1 files are byte-identical but for the value of their "elapsed_ms"
(standard library only; reads a block at a time, so files of gigabytes on one line compare in constant
memory, where sed refuses a line longer than INT_MAX).

Usage: same_explanation.py A.json B.json    exit 0 when the same, 1 (with the first difference) when not.
"""
import sys

KEY = b'"elapsed_ms":'
BLOCK = 1 << 24


def elapsed_span(path):
    """The [begin, end) byte offsets of the value of the first "elapsed_ms" key, or (size, size)."""
    with open(path, "rb") as f:
        offset, tail = 0, b""
        while True:
            block = f.read(BLOCK)
            if not block:
                return offset, offset
            data = tail + block
            found = data.find(KEY)
            if found >= 0:
                begin = offset - len(tail) + found + len(KEY)
                f.seek(begin)
                rest = f.read(64)
                end = 0
                while end < len(rest) and rest[end:end + 1] in b" -+0123456789.eE":
                    end += 1
                return begin, begin + end
            tail = data[-len(KEY):]
            offset += len(block)


def same_range(a, a_begin, a_end, b, b_begin, b_end):
    """Whether bytes [a_begin, a_end) of file a equal [b_begin, b_end) of file b; else the offset in a."""
    if a_end - a_begin != b_end - b_begin:
        return min(a_end, a_begin + (b_end - b_begin))
    with open(a, "rb") as fa, open(b, "rb") as fb:
        fa.seek(a_begin)
        fb.seek(b_begin)
        at = a_begin
        while at < a_end:
            n = min(BLOCK, a_end - at)
            x, y = fa.read(n), fb.read(n)
            if x != y:
                return at + next(i for i in range(n) if x[i:i + 1] != y[i:i + 1])
            at += n
    return None


def main():
    a, b = sys.argv[1], sys.argv[2]
    (a0, a1), (b0, b1) = elapsed_span(a), elapsed_span(b)
    with open(a, "rb") as f:
        a_size = f.seek(0, 2)
    with open(b, "rb") as f:
        b_size = f.seek(0, 2)
    for differs in (same_range(a, 0, a0, b, 0, b0), same_range(a, a1, a_size, b, b1, b_size)):
        if differs is not None:
            print("%s and %s differ at byte %d of the first" % (a, b, differs))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
