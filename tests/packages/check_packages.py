#!/usr/bin/python3
"""Is the driver's package list complete? Checks a trace of a build against Debian's packages.

`./gradlab test` run with GRADLAB_TRACE_FILES=FILE writes, through strace, every file that
configure, build, tests and docs opened or looked at. This script maps each of those files under
/usr (and the merged-/usr folders /bin, /lib, /sbin) to the Debian package that ships it, and
fails when a package is neither

  * in the closure of the driver's list (Depends and Pre-Depends, recursively, counting only the
    first of `a | b` alternatives, as apt does when it installs without Recommends), nor
  * on a fresh machine (tests/packages/debian12-base-packages.txt, one name per line).

Such a package was installed by hand at some time, and a new user's machine will not have it.

Usage: check_packages.py --trace FILE --base FILE [--ignore DIR]... -- PACKAGE...
Exit status: 0 when every package is accounted for, 1 when one is not, 2 on bad usage.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

# A line of `strace -f -z -e trace=%file`: "PID syscall(args) = result". The first quoted
# argument of these calls is the path (for the *at calls after a directory descriptor, which is
# AT_FDCWD or a number: relative paths under a number cannot be resolved and are skipped).
CALL = re.compile(r'^(?:\[pid\s+)?\d+\]?\s+(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+)')
FIRST_PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')
SYSTEM_ROOTS = ("/usr/", "/bin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/sbin/", "/etc/alternatives/")


def traced_paths(trace_file):
    """Every absolute path that a successful call in the trace named."""
    paths = set()
    with open(trace_file, errors="replace") as trace:
        for line in trace:
            match = CALL.match(line)
            if not match or match.group(3).startswith("-"):
                continue
            path = FIRST_PATH.search(match.group(2))
            if path and path.group(1).startswith("/"):
                paths.add(path.group(1).encode().decode("unicode_escape", errors="replace"))
    return paths


def dpkg_owners():
    """Path -> package for every file dpkg knows, from its .list files (one pass, no dpkg -S)."""
    owners = {}
    for listing in glob.glob("/var/lib/dpkg/info/*.list"):
        package = os.path.basename(listing)[: -len(".list")].split(":")[0]
        with open(listing, errors="replace") as files:
            for path in files:
                owners.setdefault(path.rstrip("\n"), package)
    return owners


def merged_usr_twin(path):
    """/usr/lib/x <-> /lib/x: with merged /usr, dpkg may know a file under either name."""
    for root in ("/bin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/sbin/"):
        if path.startswith("/usr" + root):
            return path[len("/usr"):]
        if path.startswith(root):
            return "/usr" + path
    return None


def owner_of(path, owners):
    """The package shipping `path`: the path as named, through symlinks (alternatives included),
    each under both merged-/usr names. None for files no package ships (caches, generated)."""
    candidates = [path]
    current = path
    for _ in range(16):  # follow the chain link by link: /usr/bin/c++ -> /etc/alternatives/c++ -> ...
        if not os.path.islink(current):
            break
        target = os.readlink(current)
        current = os.path.normpath(os.path.join(os.path.dirname(current), target))
        candidates.append(current)
    candidates.append(os.path.realpath(path))
    for candidate in candidates:
        for name in (candidate, merged_usr_twin(candidate)):
            if name and name in owners:
                return owners[name]
    return None


def dependency_closure(packages):
    """The packages apt installs for `packages` without Recommends: Depends and Pre-Depends,
    recursively, the first alternative of each `a | b` group (for a virtual package, the
    providers apt-cache lists)."""
    closure = set()
    pending = set(packages)
    while pending:
        batch = sorted(pending - closure)
        pending = set()
        if not batch:
            break
        closure.update(batch)
        output = subprocess.run(
            ["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
             "--no-breaks", "--no-replaces", "--no-enhances", *batch],
            capture_output=True, text=True, check=False).stdout
        in_group = False  # the previous line ended with "|": this one is a later alternative
        virtual_first = False
        for line in output.splitlines():
            stripped = line.strip()
            dependency = re.match(r'^(\|?)(Depends|PreDepends):\s+(\S+)', stripped)
            if dependency:
                alternative_follows = dependency.group(1) == "|"
                name = dependency.group(3)
                virtual_first = False
                if not in_group:
                    if name.startswith("<"):
                        virtual_first = True  # providers follow, indented, without a keyword
                    else:
                        pending.add(name.split(":")[0])
                in_group = alternative_follows
            elif line.startswith("    ") and virtual_first and not stripped.startswith("<"):
                pending.add(stripped.split(":")[0])
            elif not line.startswith(" "):
                in_group = False
                virtual_first = False
    return closure


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--ignore", action="append", default=[])
    parser.add_argument("packages", nargs="+")
    arguments = parser.parse_args()

    base = {line.strip() for line in open(arguments.base) if line.strip() and not line.startswith("#")}
    allowed = dependency_closure(arguments.packages) | base
    owners = dpkg_owners()
    ignored = tuple(os.path.realpath(folder) + "/" for folder in arguments.ignore)

    files_by_package = {}
    unowned = 0
    checked = 0
    for path in sorted(traced_paths(arguments.trace)):
        if not path.startswith(SYSTEM_ROOTS) or path.startswith(ignored):
            continue
        if not os.path.exists(path) or os.path.isdir(path):
            continue  # folders belong to many packages; a file gone since the trace tells nothing
        checked += 1
        package = owner_of(path, owners)
        if package is None:
            unowned += 1
            continue
        files_by_package.setdefault(package, []).append(path)

    missing = sorted(package for package in files_by_package if package not in allowed)
    print(f"check-packages: {checked} files under /usr from {len(files_by_package)} packages "
          f"({unowned} files belong to no package); {len(arguments.packages)} listed packages "
          f"close over {len(allowed - base)} beyond the {len(base)} of a fresh machine")
    if not missing:
        print("check-packages: every package the build, tests and docs used is installed by "
              "./gradlab or is on a fresh machine")
        return 0
    for package in missing:
        files = files_by_package[package]
        more = f" (and {len(files) - 1} more)" if len(files) > 1 else ""
        print(f"check-packages: MISSING {package}: {files[0]}{more} is used, but {package} is "
              f"neither in the driver's PACKAGES (with its dependencies) nor on a fresh machine")
    print(f"check-packages: {len(missing)} package(s) missing from the driver's list")
    return 1


if __name__ == "__main__":
    sys.exit(main())
