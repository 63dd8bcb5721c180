#!/usr/bin/env python3
"""Tests of the man pages in docs/man/.

  man_page_test.py render PAGE
      PAGE renders with man-db and groff without a single warning (man --warnings, which
      turns on groff's warnings), and with nothing on stderr.

  man_page_test.py coverage SNAPGOV_BINARY PAGE
      snapgov(1) names every command the binary lists, and every option of each command in
      that command's own subsection (`.SS "dump encrypt ..."`); the options of the top
      level (`--help`, `--version`, `--log-level`) in GLOBAL OPTIONS. So a new command or
      option that the binary's --help lists fails here until the page describes it.

  man_page_test.py keys SNAPGOV_BINARY PAGE
      snapgov.yaml(5) describes every key the binary's policy loader reads, each in the
      section of its map: the keys come from the loader's own "unknown key ... (known: ...)"
      warnings on a probe file with one unknown key in every map."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# No __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_help import command_tree  # noqa: E402


def render(page):
    if shutil.which("man") is None:
        print("man is not installed (Debian: man-db and groff-base; scripts/setup.sh)")
        return 1
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    # -Z: troff output, so that the whole pipeline (preprocessors, troff) runs; its
    # warnings go to stderr. `--warnings` is man-db's default set (mac), `--warnings=w`
    # every warning groff has.
    for warnings in ("--warnings", "--warnings=w"):
        command = ["man", warnings, "-E", "UTF-8", "-l", "-Tutf8", "-Z", page]
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        if run.returncode != 0 or run.stderr.strip():
            print("%s: `%s` exited %d with:\n%s" %
                  (page, " ".join(command), run.returncode, run.stderr))
            return 1
        if not run.stdout.strip():
            print("%s: rendered to nothing" % page)
            return 1
    print("%s: renders without a groff warning at 80 columns" % page)
    return 0


def plain_text(page):
    """The page as plain ASCII text, wide enough that no line is broken."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="250")
    run = subprocess.run(["man", "-E", "ascii", "-l", page], env=env, capture_output=True,
                         text=True, timeout=60)
    if run.returncode != 0:
        raise RuntimeError("man -l %s exited %d: %s" % (page, run.returncode, run.stderr))
    # Overstrike bold (c\bc) and underline (_\bc) when grotty uses them.
    return re.sub(r".\x08", "", run.stdout)


def sections(text):
    """{heading: body} for every .SH (column 0) and .SS (indented 3) heading."""
    out = {}
    heading, body = None, []
    for line in text.splitlines():
        if re.match(r"^(\S|   \S)", line):
            if heading is not None:
                out[heading] = "\n".join(body)
            heading, body = line.strip(), []
        else:
            body.append(line)
    if heading is not None:
        out[heading] = "\n".join(body)
    return out


def mentions(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def coverage(binary, page):
    tree = command_tree(binary)
    text = plain_text(page)
    parts = sections(text)
    problems = []
    checked = 0
    if "GLOBAL OPTIONS" not in parts:
        problems.append("no GLOBAL OPTIONS section")
    for command in tree:
        if not command.path:
            where, body = "GLOBAL OPTIONS", parts.get("GLOBAL OPTIONS", "")
        elif command.subcommands:
            # `policy`, `dump`: commands of commands; their only option is --help, which
            # GLOBAL OPTIONS says every command takes.
            where, body = "GLOBAL OPTIONS", parts.get("GLOBAL OPTIONS", "")
            if not mentions(body, "--help"):
                problems.append("GLOBAL OPTIONS does not say that every command takes --help")
        else:
            name = " ".join(command.path)
            heads = [h for h in parts if h == name or h.startswith(name + " ")]
            if not heads:
                problems.append("no subsection for `%s` (a heading starting '%s') under "
                                "COMMANDS" % (command.name, name))
                continue
            where, body = heads[0], parts[heads[0]]
        for option in command.options:
            for n in option.names:
                checked += 1
                if n in ("-h", "--help") and command.path:
                    continue  # GLOBAL OPTIONS: "Every command and subcommand takes it."
                if not mentions(body, n):
                    problems.append("`%s %s` is not described in the section '%s'" %
                                    (command.name, n, where))
            for value in option.choices:
                if not mentions(body, value) and not mentions(where, value):
                    problems.append("`%s %s %s` (a value the binary accepts) is not named in "
                                    "'%s'" % (command.name, option.names[-1], value, where))
        for sub in command.subcommands:
            full = " ".join(command.path + [sub])
            if not re.search(r"(?<![\w-])" + re.escape("snapgov " + full) + r"(?![\w-])",
                             parts.get("SYNOPSIS", "")):
                problems.append("SYNOPSIS does not show `snapgov %s`" % full)
    for needed in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                   "FILES", "EXAMPLES", "SEE ALSO"):
        if needed not in parts:
            problems.append("no %s section" % needed)
    if problems:
        print("%s: %d problems:" % (page, len(problems)))
        for p in problems:
            print("  " + p)
        return 1
    print("%s: names all %d commands and %d options of %d command paths" %
          (page, sum(len(c.subcommands) for c in tree), checked, len(tree)))
    return 0


# A policy file with one unknown key in every map the loader reads: each draws a warning
# that lists the keys the binary knows there. SECRET is a password file made by the test.
PROBE = """\
zz_top: 1
providers:
  - {name: a, type: libvirt, uri: "test:///default", zz_libvirt: 1}
  - name: h
    type: hyperv
    endpoint: https://hv01.example.org:5986/wsman
    zz_hyperv: 1
    auth: {method: basic, username: u, password_file: SECRET, zz_auth: 1}
    tls: {insecure: false, zz_tls: 1}
policies:
  - {name: p, mode: audit, max_age: 1d, zz_policy: 1, match: {names: [x], zz_match: 1}}
exemptions:
  - {policy: p, vm: v, reason: r, expires: 2030-01-01T00:00:00Z, zz_exemption: 1}
memory_dumps: {orphans: report, zz_memory_dumps: 1}
safety: {max_actions_per_run: 20, zz_safety: 1}
evidence: {zz_evidence: 1}
daemon: {interval: 5m, zz_daemon: 1}
"""

# Where snapgov.yaml(5) describes the keys of each map, by how the warning names the map.
KEY_SECTIONS = {
    "top level": ["DESCRIPTION"],
    "libvirt provider": ["PROVIDERS", "type: libvirt"],
    "hyperv provider": ["PROVIDERS", "type: hyperv"],
    "'auth'": ["type: hyperv"],
    "'tls'": ["type: hyperv"],
    "a policy": ["POLICIES"],
    "'match'": ["POLICIES"],
    "an exemption": ["EXEMPTIONS"],
    "'memory_dumps'": ["MEMORY_DUMPS"],
    "'safety'": ["SAFETY"],
    "'evidence'": ["EVIDENCE"],
    "'daemon'": ["DAEMON"],
}


def keys(binary, page):
    with tempfile.TemporaryDirectory() as work:
        secret = os.path.join(work, "hv.pass")
        with open(secret, "w") as f:
            f.write("not a real password\n")
        os.chmod(secret, 0o600)
        probe = os.path.join(work, "probe.yaml")
        with open(probe, "w") as f:
            f.write(PROBE.replace("SECRET", secret))
        run = subprocess.run([binary, "policy", "check", probe], capture_output=True,
                             text=True, timeout=60)
    found = re.findall(r"unknown key 'zz_\w+' in (.*?) is ignored \(known: ([^)]*)\)",
                       run.stderr)
    if run.returncode != 0 or len(found) != PROBE.count("zz_"):
        print("`snapgov policy check` on the probe file exited %d and warned about %d of its %d "
              "unknown keys; has the file or the warning changed?\n%s" %
              (run.returncode, len(found), PROBE.count("zz_"), run.stderr))
        return 1
    parts = sections(plain_text(page))
    problems = []
    count = 0
    for where, known in found:
        where = re.sub(r" '[^']*'$", "", where)  # `libvirt provider 'a'`
        if where not in KEY_SECTIONS:
            problems.append("the keys of %s (%s) have no section in KEY_SECTIONS" %
                            (where, known))
            continue
        body = "\n".join(parts.get(h, "") for h in KEY_SECTIONS[where])
        for key in (k.strip() for k in known.split(",")):
            count += 1
            if not mentions(body, key):
                problems.append("key '%s' of %s is not described in %s" %
                                (key, where, " / ".join(KEY_SECTIONS[where])))
    if problems:
        print("%s: %d problems:" % (page, len(problems)))
        for p in problems:
            print("  " + p)
        return 1
    print("%s: describes all %d keys the loader reads, in %d maps" % (page, count, len(found)))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "render":
        return render(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "coverage":
        return coverage(os.path.abspath(sys.argv[2]), sys.argv[3])
    if len(sys.argv) == 4 and sys.argv[1] == "keys":
        return keys(os.path.abspath(sys.argv[2]), sys.argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
