"""The types of the compiled framing in _pcap_records.pyx, which mypy cannot read from the built module."""

from _typeshed import ReadableBuffer

from .capture import CaptureReader, _Interface

# (seconds as float, link type, frame bytes, frame number, length on the wire, nanoseconds): CaptureReader.frames
Frame = tuple[float, int, bytes, int, int, int]

class PcapRecords:
    pos: int
    index: int
    release_at: int
    def __init__(self, buf: ReadableBuffer, little: bool, frac_ns: int, linktype: int, limit: int, reader: CaptureReader,
                 release_every: int) -> None: ...
    def __iter__(self) -> PcapRecords: ...
    def __next__(self) -> Frame: ...

class PcapngPackets:
    pos: int
    index: int
    release_at: int
    def __init__(self, buf: ReadableBuffer, reader: CaptureReader, release_every: int, max_block: int) -> None: ...
    def resume(self, pos: int, little: bool, interfaces: list[_Interface], index: int, release_at: int) -> None: ...
    def take_counts(self) -> dict[int, int]: ...
    def __iter__(self) -> PcapngPackets: ...
    def __next__(self) -> Frame: ...
