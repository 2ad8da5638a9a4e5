"""llama.cpp in-process through xllamacpp: GGUF helpers and a server that stops cleanly.

Kept apart from the adapter so that the adapter reads as configuration and the
low-level parts (GGUF layout, upcasting, native server lifetime) stay testable alone.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import mmap
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# --- GGUF ------------------------------------------------------------------------------

_GGUF_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _UINT32 = 8, 9, 4

F32, F16, Q4_0, Q4_1, Q8_0 = 0, 1, 2, 3, 8
_TYPE_NAMES = {F32: "F32", F16: "F16", Q4_0: "Q4_0", Q4_1: "Q4_1", Q8_0: "Q8_0"}
# ggml type -> (elements per block, bytes per block) for the types this module reads
_BLOCKS = {F32: (1, 4), F16: (1, 2), Q4_0: (32, 18), Q4_1: (32, 20), Q8_0: (32, 34)}
_MOSTLY_F16 = 1  # llama_ftype written to general.file_type of an upcast file

SAMPLER_ORDER = "top_k;temperature;top_p;min_p"


class GGUFError(ValueError):
    """The file is not a GGUF this module can read or convert."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in the GGUF header."""

    name: bytes
    dims: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFLayout:
    """Where the parts of a GGUF file lie; enough to rewrite its tensors."""

    version: int
    kv_count: int
    kv_span: tuple[int, int]
    file_type_at: int | None
    """Byte offset of general.file_type's uint32 value, when present."""
    alignment: int
    tensors: tuple[TensorInfo, ...]
    data_start: int


def _read_string(buf: Any, pos: int) -> tuple[bytes, int]:
    (n,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    return bytes(buf[pos : pos + n]), pos + n


def _skip_value(buf: Any, pos: int, vtype: int) -> int:
    if vtype in _SCALAR_SIZES:
        return pos + _SCALAR_SIZES[vtype]
    if vtype == _STRING:
        (n,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + n
    if vtype == _ARRAY:
        etype, count = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if etype in _SCALAR_SIZES:
            return pos + _SCALAR_SIZES[etype] * count
        for _ in range(count):
            pos = _skip_value(buf, pos, etype)
        return pos
    raise GGUFError(f"unknown GGUF value type {vtype}")


def read_layout(path: Path) -> GGUFLayout:
    """Parse the header of a GGUF (v2 or v3) file without loading its tensors."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != _GGUF_MAGIC:
            raise GGUFError(f"{path.name} is not a GGUF file")
        version, n_tensors, n_kv = struct.unpack_from("<IQQ", buf, 4)
        if version < 2:
            raise GGUFError(f"{path.name}: GGUF version {version} is too old")
        pos = kv_start = 24
        alignment, file_type_at = _DEFAULT_ALIGNMENT, None
        for _ in range(n_kv):
            key, pos = _read_string(buf, pos)
            (vtype,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            if key == b"general.alignment" and vtype == _UINT32:
                (alignment,) = struct.unpack_from("<I", buf, pos)
            elif key == b"general.file_type" and vtype == _UINT32:
                file_type_at = pos
            pos = _skip_value(buf, pos, vtype)
        kv_end = pos
        tensors = []
        for _ in range(n_tensors):
            name, pos = _read_string(buf, pos)
            (n_dims,) = struct.unpack_from("<I", buf, pos)
            dims = struct.unpack_from(f"<{n_dims}Q", buf, pos + 4)
            pos += 4 + 8 * n_dims
            ggml_type, offset = struct.unpack_from("<IQ", buf, pos)
            pos += 12
            tensors.append(TensorInfo(name, tuple(dims), ggml_type, offset))
    data_start = _align(pos, alignment)
    return GGUFLayout(
        version, n_kv, (kv_start, kv_end), file_type_at, alignment, tuple(tensors), data_start
    )


def _align(n: int, alignment: int) -> int:
    return n + (-n % alignment)


def _nbytes(info: TensorInfo) -> int:
    if info.ggml_type not in _BLOCKS:
        raise GGUFError(f"tensor {info.name.decode()}: ggml type {info.ggml_type} not supported")
    per_block, block_bytes = _BLOCKS[info.ggml_type]
    return info.n_elements // per_block * block_bytes


def _dequantize(raw: np.ndarray, ggml_type: int) -> np.ndarray:
    """Quantized blocks (uint8) to float32 values, in file order."""
    if ggml_type == F16:
        return raw.view(np.float16).astype(np.float32)
    if ggml_type == Q8_0:
        blocks = raw.reshape(-1, 34)
        d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
        return (blocks[:, 2:].view(np.int8).astype(np.float32) * d).reshape(-1)
    blocks = raw.reshape(-1, 18 if ggml_type == Q4_0 else 20)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, 2:] if ggml_type == Q4_0 else blocks[:, 4:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)
    if ggml_type == Q4_0:
        return ((q - 8.0) * d).reshape(-1)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
    return (q * d + m).reshape(-1)


def upcast_to_f16(src: Path, dst: Path) -> None:
    """Write a copy of `src` whose Q4_0/Q4_1/Q8_0 tensors are stored as F16.

    llama.cpp multiplies quantized weights by activations rounded to 8 bits; F16
    weights keep the activations in 16 bits. The metadata is copied byte for byte,
    except general.file_type. Written to a temporary name and renamed, so a
    half-written file is never seen.
    """
    layout = read_layout(src)
    out_types = [F16 if t.ggml_type in (Q4_0, Q4_1, Q8_0) else t.ggml_type for t in layout.tensors]
    header = bytearray(
        struct.pack("<4sIQQ", _GGUF_MAGIC, layout.version, len(layout.tensors), layout.kv_count)
    )
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(src, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        kv = bytearray(buf[layout.kv_span[0] : layout.kv_span[1]])
        if layout.file_type_at is not None:
            struct.pack_into("<I", kv, layout.file_type_at - layout.kv_span[0], _MOSTLY_F16)
        header += kv
        offsets, offset = [], 0
        for info, out_type in zip(layout.tensors, out_types, strict=True):
            offsets.append(offset)
            size = _nbytes(TensorInfo(info.name, info.dims, out_type, 0))
            offset = _align(offset + size, layout.alignment)
        for info, out_type, off in zip(layout.tensors, out_types, offsets, strict=True):
            header += struct.pack("<Q", len(info.name)) + info.name
            header += struct.pack(f"<I{len(info.dims)}Q", len(info.dims), *info.dims)
            header += struct.pack("<IQ", out_type, off)
        header += b"\0" * (_align(len(header), layout.alignment) - len(header))
        try:
            with open(tmp, "wb") as out:
                out.write(header)
                data_start = len(header)
                for info, out_type, off in zip(layout.tensors, out_types, offsets, strict=True):
                    start = layout.data_start + info.offset
                    raw = np.frombuffer(buf, np.uint8, _nbytes(info), start)
                    if out_type == info.ggml_type:
                        data = raw.tobytes()
                    else:
                        data = _dequantize(raw, info.ggml_type).astype(np.float16).tobytes()
                    out.write(b"\0" * (data_start + off - out.tell()))
                    out.write(data)
                    del raw
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)


def quant_summary(path: Path) -> str:
    """The tensor types of a GGUF, most common first, e.g. 'Q4_1:210,F32:61,Q8_0:1'."""
    counts: dict[str, int] = {}
    for t in read_layout(path).tensors:
        name = _TYPE_NAMES.get(t.ggml_type, str(t.ggml_type))
        counts[name] = counts.get(name, 0) + 1
    return ",".join(f"{k}:{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def file_digest(path: Path, full_limit: int = 2 << 30) -> tuple[str, str]:
    """('sha256', hex) of the whole file; above `full_limit` bytes a sampled digest.

    The sampled form hashes the size and the first, middle and last 16 MiB, so a
    multi-gigabyte model is identified in milliseconds; it is labelled 'sha256-sampled'.
    """
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= full_limit:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
            return "sha256", h.hexdigest()
        h.update(str(size).encode())
        sample = 16 << 20
        for at in (0, size // 2, size - sample):
            f.seek(at)
            h.update(f.read(sample))
    return "sha256-sampled", h.hexdigest()


# --- the server ------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    """What the embedded llama.cpp server is started with."""

    model_path: Path
    threads: int
    parallel: int
    ctx_per_slot: int
    api_key: str
    verbose: bool = False


_live: set[LlamaServer] = set()
_live_lock = threading.Lock()


class LlamaServer:
    """One xllamacpp server listening on 127.0.0.1 on a free port.

    The native server runs its own threads (not Python threads), which end when the
    `xllamacpp.Server` object is freed; `close()` frees it, and an atexit hook closes
    any server a caller forgot, before the interpreter tears down.
    """

    def __init__(self, settings: ServerSettings) -> None:
        import xllamacpp

        os.environ.setdefault("GGML_NO_BACKTRACE", "1")  # no gdb attach on a native abort
        self.settings = settings
        params = xllamacpp.CommonParams()
        params.model.path = str(settings.model_path)
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port
        params.api_keys = [settings.api_key]
        params.offline = True
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_metrics = False
        params.endpoint_props = True
        params.fit_params = False  # keep the context we ask for
        params.n_parallel = settings.parallel
        params.n_ctx = settings.parallel * settings.ctx_per_slot
        params.kv_unified = False
        params.cont_batching = True
        params.cache_prompt = False  # reusing a cached prefix changes the logits' rounding
        params.cache_ram_mib = 0
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
        params.verbosity = 3 if settings.verbose else 0
        # Sampling as the OpenAI API defines it and vLLM serves it: the request's
        # temperature and top_p are the whole story, top_p applied after the temperature
        # (as transformers and vLLM do). llama.cpp's own defaults would add top_k=40 and
        # min_p=0.05 and apply top_p before the temperature. Temperature 0 is greedy.
        sampling = params.sampling
        sampling.top_k = 0
        sampling.top_p = 1.0
        sampling.min_p = 0.0
        sampling.typ_p = 1.0
        sampling.penalty_repeat = 1.0
        sampling.penalty_freq = 0.0
        sampling.penalty_present = 0.0
        sampling.dry_multiplier = 0.0
        sampling.xtc_probability = 0.0
        sampling.samplers = SAMPLER_ORDER
        self._server: Any = xllamacpp.Server(params)
        self.url: str = self._server.listening_address
        with _live_lock:
            _live.add(self)

    @property
    def running(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        """Stop the server: waits for its loop to exit, then frees the model and caches."""
        server, self._server = self._server, None
        with _live_lock:
            _live.discard(self)
        del server  # the last reference: ~Server stops the HTTP and inference threads


@atexit.register
def _close_all() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        server.close()
