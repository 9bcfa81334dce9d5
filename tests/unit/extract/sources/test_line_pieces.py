"""A large export is read as a stream in pieces of whole lines, with each piece's first line number."""

import gzip

import pytest
from pyarrow import fs as pafs

from llmopt.extract.sources.objects import StoredFile, read_line_pieces

LINES = [b'{"id": "a"}', b'{"id": "' + b"b" * 50 + b'"}', b"", b'{"id": "c"}', b'{"id": "d"}']


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("trailing_newline", [True, False])
def test_pieces_end_at_line_breaks_and_number_their_first_line(tmp_path, gz, trailing_newline):
    data = b"\n".join(LINES) + (b"\n" if trailing_newline else b"")
    path = tmp_path / ("export.jsonl.gz" if gz else "export.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    pieces = list(read_line_pieces(pafs.LocalFileSystem(), StoredFile(str(path), path.stat().st_size, 0), size=16))
    assert b"".join(p for p, _ in pieces) == data                          # nothing lost, nothing twice
    assert all(p.endswith(b"\n") for p, _ in pieces[:-1])                  # every piece but the last ends a line
    assert any(len(p) > 16 for p, _ in pieces)                             # the 60-byte line is one piece
    for piece, first in pieces:                                            # numbering as in the whole file
        assert data.split(b"\n")[first - 1] == piece.split(b"\n")[0]
