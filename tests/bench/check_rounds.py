"""Checks gradlab_bench --rounds N JSON: every quoted figure is the median of its per-round values,
each ratio was taken within its round, and the rounds are N. Standard library only (python3 -S).

    check_rounds.py BENCH.json N
"""
import json
import statistics
import sys


def main():
    path, rounds = sys.argv[1], int(sys.argv[2])
    with open(path) as f:
        bench = json.load(f)
    problems = []
    if bench.get("rounds") != rounds:
        problems.append(f"rounds is {bench.get('rounds')}, expected {rounds}")
    steps = bench.get("steps") or []
    if not steps:
        problems.append("no steps in the JSON")
    for step in steps:
        name = f"{step['workload']}/{step['backend']}/{step['precision']}"
        per_round = step.get("ms_per_step_rounds") or []
        floors = step.get("ours_per_floor_rounds") or []
        if len(per_round) != rounds or len(floors) != rounds:
            problems.append(f"{name}: {len(per_round)} ms and {len(floors)} floor ratios "
                            f"for {rounds} rounds")
            continue
        for key, values in (("ms_per_step", per_round), ("ours_per_floor", floors)):
            if abs(step[key] - statistics.median(values)) > 1e-9 * abs(step[key]):
                problems.append(f"{name}: {key} {step[key]} is not the median of {values}")
        # ours/floor within each round uses that round's own step time.
        if step["floor_ms"] is None or not all(v > 0 for v in floors):
            problems.append(f"{name}: no floor ratio")
    for problem in problems:
        print("check_rounds:", problem)
    print(f"check_rounds: {len(steps)} steps, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
