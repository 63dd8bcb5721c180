#!/usr/bin/env python3
"""The bash completion offers every command, option and closed set of option values that the
built binary lists, completes file names where a command takes a file, and offers nothing the
binary does not know.

Usage: completion_test.py SNAPGOV_BINARY COMPLETION_SCRIPT

The script is sourced in a real bash, COMP_WORDS/COMP_CWORD are set as readline would set
them, `_snapgov` (the function `complete -p snapgov` names) is called and COMPREPLY read.
It runs twice: sourced in a plain bash, and, when the bash-completion package is installed,
loaded on demand by it from a completions/snapgov file as the package installs it (its
_filedir is then used for file names)."""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

# No __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_help import command_tree  # noqa: E402

BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
# Files made in the folder the queries run in: every file-name query starts with "snapf".
FILES = ["snapfile.yaml", "snapfile.age", "snapfdir/"]


class Queries:
    """Completion requests, run in one bash, and the answers."""

    def __init__(self):
        self.words = []

    def add(self, words):
        self.words.append(words)
        return len(self.words) - 1

    def run(self, script, workdir, with_library):
        lines = ["set +o posix"]
        if with_library:
            # As installed: bash-completion finds completions/snapgov on demand, and sources
            # it inside a function (so the script's tables must be global).
            user_dir = os.path.join(workdir, ".bash-completion")
            os.makedirs(os.path.join(user_dir, "completions"))
            shutil.copy(script, os.path.join(user_dir, "completions", "snapgov"))
            lines += ["export BASH_COMPLETION_USER_DIR=%s" % shlex.quote(user_dir),
                      "source %s" % shlex.quote(BASH_COMPLETION),
                      "__load_completion snapgov || exit 3"]
        else:
            lines.append("source %s || exit 3" % shlex.quote(script))
        lines += [
            # The function the script registers for snapgov, as readline would call it.
            "spec=$(complete -p snapgov) || { echo 'no completion registered for snapgov'; exit 4; }",
            "fn=$(sed -n 's/.*-F \\([^ ]*\\).*/\\1/p' <<<\"$spec\")",
            "q() { COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));",
            "      COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=();",
            "      \"$fn\" snapgov \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\";",
            "      printf '\\036'; printf '%s\\037' \"${COMPREPLY[@]}\"; printf '\\n'; }",
        ]
        for words in self.words:
            lines.append("q " + " ".join(shlex.quote(w) for w in words))
        run = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(lines)],
                             cwd=workdir, capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            raise RuntimeError("bash exited %d; stderr:\n%s" %
                               (run.returncode, run.stderr[-3000:]))
        if run.stderr.strip():
            raise RuntimeError("the completion printed on stderr:\n" + run.stderr)
        answers = []
        for line in run.stdout.split("\n"):
            if line.startswith("\036"):
                answers.append([w for w in line[1:].split("\037") if w])
        if len(answers) != len(self.words):
            raise RuntimeError("expected %d answers, got %d:\n%s" %
                               (len(self.words), len(answers), run.stdout))
        return answers


def check(binary, script, with_library):
    tree = command_tree(binary)
    top = tree[0]
    # CLI11 takes the top level's options after a command too (fallthrough).
    global_names = {n for o in top.options for n in o.names} - {"-h", "--help", "--version"}

    q = Queries()
    expectations = []  # (query index, what, check(answer) -> problem or None)

    def expect_all(words, wanted, what):
        i = q.add(words)
        expectations.append((i, what, lambda got: (
            "missing %s" % sorted(set(wanted) - set(got)) if set(wanted) - set(got) else None)))

    def expect_within(words, allowed, what):
        i = q.add(words)
        expectations.append((i, what, lambda got: (
            "offers %s, which `%s --help` does not list" % (sorted(set(got) - set(allowed)),
                                                           " ".join(words[:-1]))
            if set(got) - set(allowed) else None)))

    def expect_files(words, what):
        i = q.add(words)

        def files(got):
            if not got:
                return "offers no file name"
            wrong = [g for g in got if not g.startswith("snapf")]
            return "offers %s, not file names starting 'snapf'" % wrong if wrong else None
        expectations.append((i, what, files))

    def expect_nonempty(words, what):
        i = q.add(words)
        expectations.append((i, what, lambda got: None if got else "offers nothing"))

    counted = {"commands": 0, "options": 0, "values": 0}
    for command in tree:
        base = ["snapgov"] + command.path
        names = [n for o in command.options for n in o.names]
        counted["options"] += len(names)
        if command.subcommands:
            counted["commands"] += len(command.subcommands)
            expect_all(base + [""], command.subcommands, "the commands of `%s`" % command.name)
            expect_within(base + [""], command.subcommands, "the commands of `%s`" %
                          command.name)
            # A prefix narrows the list.
            for sub in command.subcommands:
                expect_all(base + [sub[:2]], [sub], "`%s %s` from its first letters" %
                           (command.name, sub))
        expect_all(base + ["-"], names, "the options of `%s`" % command.name)
        expect_within(base + ["-"], set(names) | global_names,
                      "the options of `%s`" % command.name)
        for option in command.options:
            for name in option.names:
                if option.choices:
                    counted["values"] += 1
                    expect_all(base + [name, ""], option.choices,
                               "the values of `%s %s`" % (command.name, name))
                    expect_within(base + [name, ""], option.choices,
                                  "the values of `%s %s`" % (command.name, name))
                    if name.startswith("--"):
                        expect_all(base + [name, "=", ""], option.choices,
                                   "the values of `%s %s=`" % (command.name, name))
                elif option.value_type.endswith(":RFC3339"):
                    expect_nonempty(base + [name, ""], "an instant for `%s %s`" %
                                    (command.name, name))
                elif option.value_type == "ID":
                    # An operation ID (dump recover --settle): the state directory's journals,
                    # none in this test's environment.
                    expect_within(base + [name, ""], [], "the IDs for `%s %s`" %
                                  (command.name, name))
                elif option.takes_value:
                    # Every other option with a value names a file or folder.
                    expect_files(base + [name, "snapf"],
                                 "file names for `%s %s`" % (command.name, name))
        if command.positionals and not command.subcommands:
            expect_files(base + ["snapf"], "file names for the %s of `%s`" %
                         (" ".join(command.positionals), command.name))
        # Options before the command do not hide it: `snapgov --log-level debug dump ...`.
        if command.path and command.subcommands:
            level = next(o for o in top.options if "--log-level" in o.names)
            expect_all(["snapgov", "--log-level", level.choices[0]] + command.path + [""],
                       command.subcommands,
                       "the commands of `%s` after a global option" % command.name)

    with tempfile.TemporaryDirectory() as work:
        for f in FILES:
            if f.endswith("/"):
                os.mkdir(os.path.join(work, f))
            else:
                open(os.path.join(work, f), "w").close()
        answers = q.run(script, work, with_library)

    problems = []
    for i, what, judge in expectations:
        problem = judge(answers[i])
        if problem:
            problems.append("%s (COMP_WORDS=%s): %s" % (what, q.words[i], problem))
    mode = "with bash-completion" if with_library else "plain bash"
    if problems:
        print("%s: %d problems:" % (mode, len(problems)))
        for p in problems:
            print("  " + p)
        return False
    print("%s: %d queries pass: %d commands, %d options, %d value sets over %d command paths" %
          (mode, len(q.words), counted["commands"], counted["options"], counted["values"],
           len(tree)))
    return True


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, script = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    def checked(with_library):
        try:
            return check(binary, script, with_library)
        except RuntimeError as e:
            print("%s: %s" % ("with bash-completion" if with_library else "plain bash", e))
            return False
    ok = checked(with_library=False)
    if os.path.exists(BASH_COMPLETION):
        ok = checked(with_library=True) and ok
    else:
        print("with bash-completion: not checked (%s is not installed)" % BASH_COMPLETION)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
