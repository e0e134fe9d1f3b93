#!/usr/bin/env python3
"""CI's stand-in for `docker build` where no container engine runs.

Assembles the build context the way Docker would (the repository's files minus what
.dockerignore excludes), then carries out the Dockerfile's build stage in a temporary
root: each COPY from the context, each RUN (with `/out` and other absolute paths under
the temporary root), in the Dockerfile's order. Then checks that everything the runtime
stage copies exists, and that the built binary runs. So a build line that cannot work,
or a file the context leaves out, fails CI.

    python3 scripts/docker-standin.py [--keep DIR]

SCIM_BRIDGE_BUILD_PROFILE (default here: dev) is passed to scripts/build.sh, and
CARGO_TARGET_DIR (default: the repository's target/) is shared, so the dependencies are
not built again; the workspace's own crates are, from the assembled context.
"""
import fnmatch
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ignore_rules():
    rules = []
    with open(os.path.join(REPO, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:] if negate else line
            rules.append((negate, pattern.strip("/")))
    return rules


def included(path, rules):
    """Docker's rule: the last matching pattern wins; a pattern matches a path or any
    of its parent directories."""
    keep = True
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for negate, pattern in rules:
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            keep = negate
    return keep


def context_files():
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    rules = ignore_rules()
    return [p for p in listed if p and os.path.exists(os.path.join(REPO, p)) and included(p, rules)]


def stages():
    """The Dockerfile's instructions per stage, continuation lines joined."""
    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            result.append([])
        if result:
            result[-1].append((word.upper(), rest.strip()))
    return result


def under(root, path):
    return os.path.join(root, path.lstrip("/"))


def main():
    keep = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--keep" else None
    root = keep or tempfile.mkdtemp(prefix="docker-standin-")
    os.makedirs(root, exist_ok=True)
    context = os.path.join(root, "_context")
    files = context_files()
    for path in files:
        dest = os.path.join(context, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), dest)
    print(f"== stand-in: context of {len(files)} files in {context}")

    env = dict(os.environ)
    env.setdefault("SCIM_BRIDGE_BUILD_PROFILE", "dev")
    env.setdefault("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    build, runtime = stages()[0], stages()[-1]
    workdir = root
    for word, rest in build:
        if word == "WORKDIR":
            workdir = under(root, rest)
            os.makedirs(workdir, exist_ok=True)
        elif word == "COPY":
            *sources, dest = shlex.split(rest)
            target = under(root, dest) if dest.startswith("/") else os.path.join(workdir, dest)
            for source in sources:
                src = os.path.join(context, source)
                if not os.path.exists(src):
                    sys.exit(f"COPY {source}: not in the build context (.dockerignore?)")
                if os.path.isdir(src):
                    # As Docker does: a directory's contents, not the directory itself.
                    shutil.copytree(src, target, dirs_exist_ok=True)
                else:
                    os.makedirs(target if dest.endswith("/") else os.path.dirname(target) or ".", exist_ok=True)
                    shutil.copy2(src, os.path.join(target, os.path.basename(source)) if dest.endswith("/") or os.path.isdir(target) else target)
        elif word == "RUN":
            command = " ".join(
                under(root, w) if w.startswith("/") else w for w in shlex.split(rest)
            )
            print(f"== stand-in: RUN {rest}")
            subprocess.run(["bash", "-c", command], cwd=workdir, env=env, check=True)
    for word, rest in runtime:
        if word != "COPY":
            continue
        args = shlex.split(rest)
        from_build = any(a.startswith("--from=") for a in args)
        sources = [a for a in args if not a.startswith("--")][:-1]
        for source in sources:
            path = under(root, source) if from_build else os.path.join(context, source)
            if not os.path.exists(path):
                sys.exit(f"runtime stage COPY {source}: missing after the build stage")
    subprocess.run([under(root, "out/scim-bridge"), "health", "--help"], check=True, capture_output=True)
    subprocess.run([under(root, "out/bandwidth-sim"), "--help"], check=True, capture_output=True)
    print("== stand-in: the Dockerfile's build stage ran; the runtime stage's files exist")
    if not keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
