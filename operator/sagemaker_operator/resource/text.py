"""AWS's HTML documentation strings as the plain text ``kubectl explain`` shows.

The model's documentation uses a small HTML subset (``p``, ``code``, ``a``, ``ul``/``li``,
``dl``/``dt``/``dd``, ``note``, ``important``, ``i``, ``b``). Paragraphs become paragraphs,
list items become ``- item`` lines, notes keep a ``Note:``/``Important:`` lead, and links keep
their text only (the URLs would double the CRD's size for little use in a terminal).
"""

import html.parser
import re

_BLOCKS = {"p", "ul", "dl", "dd", "note", "important"}
_LEADS = {"note": "Note: ", "important": "Important: "}


class _Flattener(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        # A bullet or lead waits for the first text after it (``<li><p>text</p></li>``).
        self.prefix = ""

    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self.current)).strip()
        if text:
            self.blocks.append(self.prefix + text)
            self.prefix = ""
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS or tag in {"li", "dt"}:
            self._flush()
        if tag == "li":
            self.prefix = "- "
        self.prefix += _LEADS.get(tag, "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS or tag in {"li", "dt"}:
            self._flush()

    def handle_data(self, data: str) -> None:
        self.current.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def plain(documentation: str | None) -> str:
    """Plain text of an AWS documentation string; paragraphs separated by blank lines."""
    if not documentation:
        return ""
    flattener = _Flattener()
    flattener.feed(documentation)
    flattener.close()
    out: list[str] = []
    for block in flattener.blocks:
        # NB: consecutive list items read better as one block than as separate paragraphs.
        if out and block.startswith("- ") and out[-1].split("\n")[-1].startswith("- "):
            out[-1] += "\n" + block
        else:
            out.append(block)
    return "\n\n".join(out)
