"""The front end's translations: extract the messages from src/, compile locale/*.po into JupyterLab's JSON.

    python scripts/i18n.py extract   # add new messages to every .po (empty msgstr), list unused ones
    python scripts/i18n.py compile   # write npuhub_lab/locale/<lang>/LC_MESSAGES/npuhub_lab.json
    python scripts/i18n.py check     # exit 1 if a message lacks a translation or a JSON is stale

The JSON is what JupyterLab's server reads (jupyterlab_server.translation_utils,
through the ``jupyterlab.locale`` entry point) and what ``trans.__`` looks up:
``{"": {domain, language, plural_forms, version}, msgid: [msgstr, ...]}``.
No dependency beyond the standard library, so the build and the tests need nothing more.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "npuhub_lab"
LOCALE = ROOT / "npuhub_lab" / "locale"
VERSION = json.loads((ROOT / "package.json").read_text())["version"]

_STRING = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_CALL = re.compile(r"trans\.(__|_n)\(\s*" + _STRING + r"(?:\s*,\s*" + _STRING + r")?", re.S)


def _ts_string(literal: str) -> str:
    # TypeScript's single- and double-quoted strings read like Python's for the escapes used here.
    return ast.literal_eval(literal)


def extract() -> dict[str, str | None]:
    """msgid → msgid_plural (None for singular messages), in order of first use."""
    found: dict[str, str | None] = {}
    for path in sorted((ROOT / "src").rglob("*.ts*")):
        if "__tests__" in path.parts:
            continue
        for kind, first, second in _CALL.findall(path.read_text(encoding="utf-8")):
            msgid = _ts_string(first)
            found.setdefault(msgid, _ts_string(second) if kind == "_n" and second else None)
    return found


def _po_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def read_po(path: Path) -> tuple[dict[str, str], dict[str, dict]]:
    """(header fields, {msgid: {"plural": str|None, "msgstr": [str, ...]}})."""
    entries: dict[str, dict] = {}
    current: dict | None = None
    field = None

    def finish():
        if current is not None and "msgid" in current:
            entries[current["msgid"]] = {
                "plural": current.get("msgid_plural"),
                "msgstr": [current[k] for k in sorted(k for k in current if k.startswith("msgstr"))],
            }

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            if not line and current is not None:
                finish()
                current, field = None, None
            continue
        if line.startswith('"'):
            current[field] += ast.literal_eval(line)
            continue
        key, _, rest = line.partition(" ")
        if key == "msgid" and current is not None and "msgid" in current:
            finish()
            current = None
        current = current if current is not None else {}
        key = "msgstr[0]" if key == "msgstr" else key
        field = key
        current[key] = ast.literal_eval(rest)
    finish()
    header = {}
    for line in entries.pop("", {"msgstr": [""]})["msgstr"][0].splitlines():
        name, _, value = line.partition(":")
        header[name.strip()] = value.strip()
    return header, entries


def write_po(path: Path, header: dict[str, str], entries: dict[str, dict], used: dict[str, str | None]) -> None:
    lines = ['msgid ""', 'msgstr ""']
    lines += [_po_string(f"{k}: {v}\n") for k, v in header.items()]
    for msgid, plural in used.items():
        entry = entries.get(msgid, {"plural": plural, "msgstr": [""]})
        lines.append("")
        lines.append("msgid " + _po_string(msgid))
        if plural is not None:
            lines.append("msgid_plural " + _po_string(plural))
            for i, s in enumerate(entry["msgstr"] or [""]):
                lines.append(f"msgstr[{i}] " + _po_string(s))
        else:
            lines.append("msgstr " + _po_string(entry["msgstr"][0] if entry["msgstr"] else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def compiled(po: Path) -> dict:
    header, entries = read_po(po)
    data = {
        "": {
            "domain": DOMAIN,
            # The front end files messages under this name and looks them up as "zh-CN"
            # (Gettext turns the user's "zh_CN" into "zh-CN"): "zh_CN" here would never match.
            "language": header.get("Language", po.parent.parent.name).replace("_", "-"),
            "plural_forms": header.get("Plural-Forms", "nplurals=2; plural=(n != 1);"),
            "version": VERSION,
        }
    }
    for msgid, entry in entries.items():
        forms = list(entry["msgstr"])
        if not any(forms):
            continue
        if entry.get("plural") and len(forms) == 1:
            # JupyterLab's Gettext takes an entry with one form for a singular message and
            # ignores it for `_n`; a language with one plural form (Chinese) gives it twice.
            forms = forms * 2
        data[msgid] = forms
    return data


def po_files() -> list[Path]:
    return sorted(LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    used = extract()
    problems = []
    for po in po_files():
        header, entries = read_po(po)
        json_path = po.with_suffix(".json")
        if command == "extract":
            write_po(po, header, entries, used)
            unused = sorted(set(entries) - set(used))
            for msgid in unused:
                print(f"{po.relative_to(ROOT)}: no longer used, dropped: {msgid!r}")
        elif command == "compile":
            json_path.write_text(json.dumps(compiled(po), ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                 encoding="utf-8")
        elif command == "check":
            for msgid in used:
                if msgid not in entries or not all(entries[msgid]["msgstr"]):
                    problems.append(f"{po.relative_to(ROOT)}: no translation for {msgid!r}")
            if not json_path.exists() or json.loads(json_path.read_text(encoding="utf-8")) != compiled(po):
                problems.append(f"{json_path.relative_to(ROOT)} is stale: run `python scripts/i18n.py compile`")
        else:
            print(__doc__)
            return 2
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
