"""Compares two outputs of the porting example, line by line: the words must be equal and every
number must agree to a relative 1e-10. Usage: compare_outputs.py EXPECTED ACTUAL (files; ACTUAL
may be - for standard input). Exit 0 when they agree, 1 (naming the first difference) when not."""
import sys


def numbers_and_words(line):
    items = []
    for token in line.split():
        try:
            items.append(float(token))
        except ValueError:
            items.append(token)
    return items


def main():
    expected = open(sys.argv[1]).read().splitlines()
    actual = (sys.stdin if sys.argv[2] == "-" else open(sys.argv[2])).read().splitlines()
    if len(expected) != len(actual):
        print(f"{len(actual)} lines, expected {len(expected)}")
        return 1
    for number, (want, got) in enumerate(zip(expected, actual), start=1):
        a, b = numbers_and_words(want), numbers_and_words(got)
        same = len(a) == len(b) and all(
            (abs(x - y) <= 1e-10 * max(abs(x), abs(y), 1e-300))
            if isinstance(x, float) and isinstance(y, float) else x == y
            for x, y in zip(a, b))
        if not same:
            print(f"line {number} differs:\n  PyTorch: {want}\n  gradlab: {got}")
            return 1
    print(f"{len(expected)} lines agree to 1e-10 relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
