"""The command tree of a built `snapgov`, read from `snapgov --help` and `snapgov PATH --help`
(CLI11's help format), so that the man page and completion tests check what the binary
really accepts, not a list kept by hand."""

import re
import subprocess
from dataclasses import dataclass, field


@dataclass
class Option:
    names: list          # ["-c", "--config"]
    takes_value: bool    # False for a flag such as --once
    value_type: str      # "TEXT", "TEXT:RFC3339", ...; "" for a flag
    choices: list        # ["text", "json"] for TEXT:{text,json}; [] when not a closed set


@dataclass
class Command:
    path: list                                   # [] for snapgov, ["dump", "encrypt"]
    options: list = field(default_factory=list)  # [Option]
    subcommands: list = field(default_factory=list)  # ["encrypt", ...]
    positionals: list = field(default_factory=list)  # ["FILE"]

    @property
    def name(self):
        return " ".join(["snapgov"] + self.path)


_SECTION = re.compile(r"^(Options|Subcommands|Positionals):\s*$")
# `  -c,--config TEXT REQUIRED   policy file`, `  --keep    keep FILE`: the names, then a
# type right after one space (CLI11 pads the names to a column before the description).
_ENTRY = re.compile(r"^  (\S+)(.*)$")
_TYPE = re.compile(r"^ ([A-Z][A-Z0-9]*(?::\S+)?)")
_CHOICES = re.compile(r"^[A-Z][A-Z0-9]*:\{([^}]*)\}")


def parse_help(text, path):
    """The Command that `text` (the output of `snapgov PATH --help`) describes."""
    command = Command(path=list(path))
    section = None
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        if not line.strip():
            continue
        if not line.startswith("  ") or line.startswith("   "):
            # A title line, or a description continued on its own line.
            if not line.startswith("  "):
                section = None
            continue
        entry = _ENTRY.match(line)
        if not entry or section is None:
            continue
        first, rest = entry.group(1), entry.group(2)
        if section == "Subcommands":
            command.subcommands.append(first)
        elif section == "Positionals":
            command.positionals.append(first)
        elif section == "Options":
            t = _TYPE.match(rest)
            value_type = t.group(1) if t else ""
            c = _CHOICES.match(value_type)
            choices = [v.strip() for v in c.group(1).split(",")] if c else []
            command.options.append(
                Option(names=first.split(","), takes_value=bool(t), value_type=value_type,
                       choices=choices))
    return command


def command_tree(binary):
    """Every command of `binary`, top level first, each parent before its subcommands."""
    out = []
    todo = [[]]
    while todo:
        path = todo.pop(0)
        run = subprocess.run([binary] + path + ["--help"], capture_output=True, text=True,
                             timeout=30)
        if run.returncode != 0:
            raise RuntimeError("%s --help exited %d: %s" %
                               (" ".join([binary] + path), run.returncode, run.stderr))
        usage = next((l for l in run.stdout.splitlines() if l.startswith("Usage:")), "")
        if path and not re.search(r"\s" + re.escape(" ".join(path)) + r"(\s|$)", usage):
            raise RuntimeError("`%s --help` does not show the help of `%s` (usage: %r)" %
                               (" ".join([binary] + path), " ".join(path), usage))
        command = parse_help(run.stdout, path)
        if not path and not command.subcommands:
            raise RuntimeError("snapgov --help lists no commands; has its format changed?\n" +
                               run.stdout)
        if not command.options:
            raise RuntimeError("%s --help lists no options (not even --help); has CLI11's "
                               "format changed?\n%s" % (command.name, run.stdout))
        out.append(command)
        todo.extend(path + [sub] for sub in command.subcommands)
    return out
