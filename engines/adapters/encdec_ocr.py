"""Encoder-decoder OCR (platerec): 224x224 crops -> encoder context -> greedy decoder.

Pre-processing reproduces platerec's: RGB crop, Pillow bicubic resize to 224x224
(engines.resample, exact), (x/255 - ImageNet mean) / std in float64, then float32, then
the model's input dtype (float16 for platerec). The encoder runs once on all crops of a
frame; the decoder runs step by step, on every unfinished sequence together when its
batch rows are independent. platerec's decoder declares a dynamic batch but mixes rows
(a row's logits change with the other rows' contexts), so a probe at load time checks
that and, failing it, the decoder runs crop by crop (the encoder stays batched).
Each step's softmax is computed in the logits' dtype exactly as platerec does, so the
greedy choice matches it. The first token names the region: [br], [us], [ue] (-> "eu"),
[ru]. Per-character confidence is the chosen token's probability; overall is their min.
"""
import json
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from alpr import defaults
from alpr.errors import ModelError
from engines.adapters.base import Box, Recognizer, crop
from engines.resample import PilResizer
from engines.runtime import Runtime
from engines.types import TextRead

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
START, END = "<", ">"
#: region tokens -> region names used elsewhere in the project
REGION_NAMES = {"ue": "eu"}


class Tokenizer(object):
    """platerec's tokenizer.json: index <-> token (characters and [region] specials)."""

    def __init__(self, itos: Dict[int, str]) -> None:
        self.itos = dict(itos)
        self.stoi = {t: i for i, t in self.itos.items()}
        for token in (START, END):
            if token not in self.stoi:
                raise ModelError("tokenizer has no %r token" % token)
        self.start, self.end = self.stoi[START], self.stoi[END]

    @classmethod
    def from_json(cls, path: str) -> "Tokenizer":
        try:
            with open(path) as fh:
                data = json.load(fh)
            itos = {int(k): str(v) for k, v in data["itos"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError("cannot read tokenizer %s: %s" % (path, exc)) from exc
        return cls(itos)

    @staticmethod
    def region_of(token: str) -> Optional[str]:
        """'br' for '[br]'; None for a character token."""
        if len(token) > 2 and token.startswith("[") and token.endswith("]"):
            name = token[1:-1]
            return REGION_NAMES.get(name, name)
        return None


def normalisation_lut(dtype: "np.dtype", mean: Sequence[float] = IMAGENET_MEAN,
                      std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """[3, 256] table: ((u8 / 255 - mean) / std) in float64 -> float32 -> dtype, per channel."""
    u8 = np.arange(256, dtype=np.float64) / 255.0
    table = np.stack([(u8 - m) / s for m, s in zip(mean, std)]).astype(np.float32)
    return table.astype(dtype)


class EncDecOcr(Recognizer):
    """platerec-style OCR: batched encoder, batched greedy decoder, region token first."""

    def __init__(self, encoder: Runtime, decoder: Runtime, tokenizer: Tokenizer,
                 max_tokens: int = defaults.OCR_MAX_TOKENS,
                 batch_decoder: Optional[bool] = None) -> None:
        self.encoder, self.decoder, self.tokenizer = encoder, decoder, tokenizer
        spec = encoder.inputs[0]
        if len(spec.shape) != 4 or not all(isinstance(d, int) for d in spec.shape[1:]):
            raise ModelError("encoder input must be [N, 3, H, W] with fixed C, H, W; got %s"
                             % (spec.shape,))
        self.enc_input = spec.name
        self.size = (int(spec.shape[2]), int(spec.shape[3]))
        self.enc_batch = spec.shape[0] if isinstance(spec.shape[0], int) else None
        names = [s.name for s in decoder.inputs]
        if len(names) != 2:
            raise ModelError("decoder must take (tokens, context); has inputs %s" % names)
        self.dec_tokens = "input" if "input" in names else names[0]
        self.dec_context = [n for n in names if n != self.dec_tokens][0]
        self.dec_batch = decoder.input(self.dec_tokens).shape[0]
        self.dec_batch = self.dec_batch if isinstance(self.dec_batch, int) else None
        self.max_tokens = int(max_tokens)
        self.resizer = PilResizer(self.size[0], self.size[1])
        self._lut = normalisation_lut(spec.dtype)
        self.min_crop_width = self.size[1]
        if batch_decoder is None:
            batch_decoder = self.dec_batch is None and self._decoder_rows_independent()
        self.batch_decoder = bool(batch_decoder)

    @property
    def runtimes(self) -> List[Runtime]:
        return [self.encoder, self.decoder]

    def _decoder_rows_independent(self) -> bool:
        """Probe: does row 0's output stay the same when another row's context changes?"""
        spec = self.decoder.input(self.dec_context)
        width = [d for d in spec.shape[1:]]
        if not all(isinstance(d, int) for d in width):
            return False
        rng = np.random.RandomState(0)
        ctx = rng.standard_normal((2,) + tuple(width)).astype(spec.dtype)
        seq = np.full((2, 2), self.tokenizer.start, dtype=np.int64)
        name = self.decoder.outputs[0].name
        both = self.decoder.run({self.dec_tokens: seq, self.dec_context: ctx})[name]
        one = self.decoder.run({self.dec_tokens: seq[:1], self.dec_context: ctx[:1]})[name]
        self.decoder.calls, self.decoder.total_ms = 0, 0.0  # the probe is not frame work
        return bool(np.array_equal(both[:1], one))

    def prepare(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        h, w = self.size
        batch = np.empty((len(boxes), 3, h, w), dtype=self._lut.dtype)
        for i, box in enumerate(boxes):
            planes = self.resizer.planar(crop(image_bgr, box))  # B, G, R planes, 224x224
            for plane, channel in enumerate((2, 1, 0)):  # -> R, G, B, normalised
                np.take(self._lut[plane], planes[channel], out=batch[i, plane])
        return batch

    def infer(self, batch: np.ndarray) -> Tuple[List[List[int]], List[List[float]]]:
        if self.enc_batch is None:
            context = self.encoder.run({self.enc_input: batch})[self.encoder.outputs[0].name]
        else:  # fixed encoder batch of 1
            context = np.concatenate([
                self.encoder.run({self.enc_input: batch[i:i + 1]})[self.encoder.outputs[0].name]
                for i in range(len(batch))])
        if self.batch_decoder:
            return self._greedy(context)
        tokens = []  # type: List[List[int]]
        probs = []  # type: List[List[float]]
        for i in range(len(context)):
            t, p = self._greedy(context[i:i + 1])
            tokens.extend(t)
            probs.extend(p)
        return tokens, probs

    def _greedy(self, context: np.ndarray) -> Tuple[List[List[int]], List[List[float]]]:
        n = len(context)
        seq = np.full((n, 1), self.tokenizer.start, dtype=np.int64)
        tokens = [[] for _ in range(n)]  # type: List[List[int]]
        probs = [[] for _ in range(n)]  # type: List[List[float]]
        active = np.arange(n)
        out_name = self.decoder.outputs[0].name
        for _ in range(self.max_tokens):
            logits = self.decoder.run({self.dec_tokens: seq, self.dec_context: context})[out_name]
            last = logits[:, -1, :]
            # platerec's softmax, in the logits' own dtype (float16): ties resolve the same way
            p = np.exp(last - np.max(last, axis=-1, keepdims=True))
            p /= np.sum(p, axis=-1, keepdims=True)
            nxt = np.argmax(p, axis=-1)
            best = np.max(p, axis=-1)
            done = np.zeros(len(active), dtype=bool)
            for row, (t, pr) in enumerate(zip(nxt.tolist(), best.tolist())):
                if t == self.tokenizer.end:
                    done[row] = True
                else:
                    tokens[active[row]].append(int(t))
                    probs[active[row]].append(float(pr))
            if done.all():
                break
            keep = ~done
            active = active[keep]
            seq = np.concatenate([seq[keep], nxt[keep, None].astype(np.int64)], axis=1)
            context = context[keep]
        return tokens, probs

    def postprocess(self, raw: Tuple[List[List[int]], List[List[float]]]) -> List[TextRead]:
        out = []
        for ids, probs in zip(*raw):
            region = ""
            chars, confs = [], []
            for position, (i, p) in enumerate(zip(ids, probs)):
                token = self.tokenizer.itos.get(i, "")
                name = Tokenizer.region_of(token)
                if name is not None:
                    if position == 0:
                        region = name
                    continue
                if token in (START, END, "~", ""):
                    continue
                chars.append(token)
                confs.append(p)
            out.append(TextRead("".join(chars), min(confs) if confs else 0.0, tuple(confs),
                                region))
        return out
