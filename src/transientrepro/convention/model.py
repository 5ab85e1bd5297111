"""The ConvEntion network (Bairouk et al. 2023, Fig. 2, §3.1-3.3), as the authors released it.

Input: ``x`` (B, M, S, S) separated, normalised images; ``band`` (B, M) band ids 1..5 (0 = pad);
``mask`` (B, M) True for real images. Output: class logits (B, C).

Two readings are built from one class (``ModelConfig``; every switch is a config key):

* ``RELEASED`` (the ``ModelConfig()`` defaults = ``paper_settings``): the network of the authors'
  code (GitHub DaBihy/ConvEntion, HEAD 4d305dd ``code/model/``; the same at a6d0e5c), 1,253,108
  parameters for 4 classes at M=99, K=3, L=2, T=4, 32 px = the paper's "1.253M" (the released
  ``MulticlassClassification.linearCon`` = Linear(256, 128), defined but unused in ``forward``, is
  left out; with it: 1,286,004);
* ``TABLE2_READING``: the paper's text read literally (Table 2's 64 channels as D, global pooling,
  post-norm), 1,267,660 parameters; the project's network before issue 10.

1. BandEmbed (eq. 1): ``nn.Embedding(band_vocab, S*S, padding_idx=0)`` reshaped to S x S and
   concatenated with the image as a 2nd channel: J (B, 2, M, S, S). The released code has 10 rows
   for 5 bands (``conv_bert.py:26``); row 0 (padding) is fixed at zero.
2. 3-D CNN (eq. 3, Table 2): J is cut into N = M / K sub-sequences of K images (M is padded up to a
   multiple of K with blanks); each passes through Conv3d + BatchNorm3d + ReLU layers with kernels
   (k_t, k, k) = (3, 11, 11), (3, 5, 5), (3, 3, 3), (3, 3, 3) and 64, 128, 64, D filters. The
   released code applies the spatial stride and padding to the time axis too
   (``cnn_time="as_space"``, ``feature_generator.py:10-29``: K=3 images -> 3 -> 5 -> 3 -> 1);
   ``cnn_time="same"`` pads time to keep K steps. Whatever time steps remain are averaged, so each
   sub-sequence yields one entry S_n (D, H', W'); 32 px -> H' = W' = 9 at paper settings.
3. 3-D positional encoding (eq. 4-6): P[n, 2i] = sin(n / 10000^(2i/D)), P[n, 2i+1] =
   cos(n / 10000^(2i/D)), constant over (H', W'), added: F = S + P (``pos_encoding.py``).
4. Convolutional BERT, L layers of
   a. multi-head convolutional attention (§3.3.2): Q, K, V = Conv2d(D, 3D, 1) of F_n; attention map
      of head t for (n, m): H_(n,m) = M_theta(Q_n + K_m), a Conv2d(D -> T) over all D channels
      (``attention_map="full"``, ``single.py:16-18``) or a grouped Conv2d in which each head sees
      only its own D/T channels (``"grouped"``, the paper's D' = D/T); softmax over m (the N
      positions), separately at every pixel; V'_n = sum_m softmax(H_n)_(n,m) * V_m (eq. 8); heads
      concatenated (eq. 9) and merged by a Conv2d(D, D, 3);
   b. feed-forward network: Conv2d(D, d_ff, 3) - ReLU - [BN] - Conv2d(d_ff, D, 3) - [ReLU - BN]
      (``ffn="bn"``: the released conv-ReLU-BN-conv-ReLU-BN with d_ff = 2D, ``feed_forward.py``;
      ``"plain"``: conv-ReLU-conv);
   c. residual connections: ``sublayer="pre_layernorm"`` (released, ``sublayer.py``):
      x + f(LayerNorm(x)) with one LayerNorm over (D, H', W', N) jointly (elementwise affine, so its
      size fixes N) and no dropout; ``"post_groupnorm"``: GroupNorm(1, D)(x + dropout(f(x))) per
      position.
5. 3-D max-pooling: over N only, flattening D x H' x W' (``pool="sequence"``, released
   ``MaxPool3d((1, 1, 33))`` then Linear(648, 256), ``classification_model.py:24-25``), or over
   (N, H', W') (``pool="global"``); then the classifier Dropout - Linear(., hidden) - ReLU - Dropout
   - Linear(hidden, C).

Padding: ``mask_padding=True`` keeps padded sub-sequences out of the attention (as keys) and of the
pooling. The released trainer always passes ``mask=None`` (``trainer.py:147``), so padded positions
take part in both (``mask_padding=False``).

Note on eq. (7): with a *linear* M_theta (sum then convolution, as the paper describes and the code
does), Conv(Q_n + K_m) = Conv(Q_n) + Conv(K_m) and the Q_n term is constant along the softmax axis
m, so the attention weights do not depend on the query. We implement it literally by default
(``attention_activation="none"``, computed through that linearity in O(N) memory; the test suite
checks it equals the pairwise form) and offer "relu"/"tanh" to make the attention query-dependent.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {"none": None, "relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu}
CHOICES = {
    "cnn_time": ("as_space", "same"),
    "cnn_batchnorm": ("per_position", "joint"),
    "attention_map": ("full", "grouped"),
    "ffn": ("bn", "plain"),
    "sublayer": ("pre_layernorm", "post_groupnorm"),
    "pool": ("sequence", "global"),
}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters; the defaults are the released network at paper settings."""

    K: int = 3
    band_vocab: int = 10
    cnn_channels: tuple[int, ...] = (64, 128, 64, 8)
    cnn_kernels: tuple[int, ...] = (11, 5, 3, 3)
    cnn_strides: tuple[int, ...] = (2, 1, 1, 1)
    cnn_paddings: tuple[int, ...] = (2, 2, 0, 0)
    cnn_temporal_kernel: int = 3
    cnn_time: str = "as_space"
    cnn_batchnorm: str = "per_position"
    L: int = 2
    T: int = 4
    d_ff: int = 16
    qkv_kernel: int = 1
    attention_kernel: int = 5
    attention_map: str = "full"
    merge_kernel: int = 3
    ffn_kernel: int = 3
    ffn: str = "bn"
    sublayer: str = "pre_layernorm"
    attention_activation: str = "none"
    mask_padding: bool = False
    pool: str = "sequence"
    classifier_hidden: int = 256
    dropout: float = 0.3

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None, where: str = "convention.model") -> "ModelConfig":
        m = dict(m or {})
        names = {f.name for f in fields(cls)}
        unknown = set(m) - names
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        for k, v in list(m.items()):
            if isinstance(v, list):
                m[k] = tuple(int(x) for x in v)
        cfg = cls(**m)
        cfg.validate(where)
        return cfg

    def validate(self, where: str = "convention.model") -> None:
        n = len(self.cnn_channels)
        if not (len(self.cnn_kernels) == len(self.cnn_strides) == len(self.cnn_paddings) == n) or n == 0:
            raise ValueError(f"{where}: cnn_channels, cnn_kernels, cnn_strides, cnn_paddings need the same non-zero length")
        D = self.cnn_channels[-1]
        if D % self.T:
            raise ValueError(f"{where}: the last cnn channel count D={D} must be divisible by T={self.T} heads")
        if self.attention_activation not in ACTIVATIONS:
            raise ValueError(f"{where}.attention_activation: {self.attention_activation!r} not in {sorted(ACTIVATIONS)}")
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{where}.{key}: {getattr(self, key)!r} not in {list(allowed)}")
        if self.band_vocab < 6:
            raise ValueError(f"{where}.band_vocab must be >= 6 (padding + 5 bands), got {self.band_vocab}")
        if self.K < 1 or self.L < 0 or self.T < 1:
            raise ValueError(f"{where}: need K >= 1, L >= 0, T >= 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{where}.dropout must be in [0, 1)")
        self.temporal_out()

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @property
    def D(self) -> int:
        return self.cnn_channels[-1]

    def _time_geometry(self) -> list[tuple[int, int]]:
        """(stride, padding) of each Conv3d along time."""
        if self.cnn_time == "same":
            return [(1, self.cnn_temporal_kernel // 2)] * len(self.cnn_channels)
        return list(zip(self.cnn_strides, self.cnn_paddings))

    def temporal_out(self) -> int:
        """Time steps left of one K-image sub-sequence after the 3-D CNN (averaged afterwards)."""
        t = self.K
        for st, p in self._time_geometry():
            t = (t + 2 * p - self.cnn_temporal_kernel) // st + 1
            if t < 1:
                raise ValueError(f"convention.model: the 3-D CNN shrinks a K={self.K}-image sub-sequence below one step "
                                 f"(temporal kernel {self.cnn_temporal_kernel}, cnn_time={self.cnn_time!r})")
        return t

    def spatial_out(self, stamp: int) -> int:
        s = stamp
        for k, st, p in zip(self.cnn_kernels, self.cnn_strides, self.cnn_paddings):
            s = (s + 2 * p - k) // st + 1
            if s < 1:
                raise ValueError(f"convention.model: the 3-D CNN shrinks a {stamp}-px stamp below 1 px "
                                 f"(kernels {self.cnn_kernels}, strides {self.cnn_strides}, paddings {self.cnn_paddings})")
        return s


#: The network of the authors' code at paper settings (D = 8): ``paper_settings``.
RELEASED = ModelConfig()
#: Table 2 read literally (D = 64), §3.3 read as post-norm with dropout; the project's network before issue 10.
TABLE2_READING = ModelConfig(band_vocab=6, cnn_channels=(64, 128, 64, 64), cnn_time="same", cnn_batchnorm="joint", d_ff=64,
                             attention_map="grouped", ffn="plain", sublayer="post_groupnorm", mask_padding=True,
                             pool="global")
READINGS = {"paper_settings": RELEASED, "table2_reading": TABLE2_READING}


def positional_encoding(N: int, D: int) -> torch.Tensor:
    """(N, D, 1, 1) sinusoidal encoding of eq. (4)-(5), constant over the spatial axes."""
    pos = torch.arange(N, dtype=torch.float32)[:, None]
    i2 = torch.arange(0, D, 2, dtype=torch.float32)[None, :]
    angle = pos / torch.pow(10000.0, i2 / D)
    pe = torch.zeros(N, D)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : D // 2])
    return pe[:, :, None, None]


class CNN3D(nn.Module):
    """Table 2: Conv3d + BatchNorm3d + ReLU blocks over one K-image sub-sequence.

    ``cnn_batchnorm="per_position"`` runs the N sub-sequence positions one after the other, as the
    released loop does (``conv_bert.py:40-41``), so in training each BatchNorm3d normalises with
    the statistics of one position over the batch (and updates its running statistics N times per
    step); ``"joint"`` runs all B x N sub-sequences as one batch. The two agree in eval mode.
    """

    def __init__(self, cfg: ModelConfig, in_channels: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, kt = in_channels, cfg.cnn_temporal_kernel
        for c, k, s, p, (ts, tp) in zip(cfg.cnn_channels, cfg.cnn_kernels, cfg.cnn_strides, cfg.cnn_paddings,
                                        cfg._time_geometry()):
            layers += [nn.Conv3d(c_in, c, (kt, k, k), stride=(ts, s, s), padding=(tp, p, p)),
                       nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.net = nn.Sequential(*layers)
        self.per_position = cfg.cnn_batchnorm == "per_position"

    def forward(self, j: torch.Tensor) -> torch.Tensor:
        """(B, N, 2, K, S, S) -> (B, N, D, H', W'); a 5-D input (B', 2, K, S, S) is one position."""
        if j.ndim == 5:
            return self.net(j).mean(dim=2)
        B, N = j.shape[:2]
        if self.per_position:
            return torch.stack([self.net(j[:, n]).mean(dim=2) for n in range(N)], dim=1)
        s = self.net(j.reshape(B * N, *j.shape[2:])).mean(dim=2)
        return s.view(B, N, *s.shape[1:])


class ConvAttention(nn.Module):
    """Multi-head convolutional self-attention (§3.3.2, Fig. 5)."""

    def __init__(self, D: int, T: int, qkv_kernel: int, attention_kernel: int, merge_kernel: int,
                 activation: str = "none", attention_map: str = "full") -> None:
        super().__init__()
        self.D, self.T = D, T
        self.qkv = nn.Conv2d(D, 3 * D, qkv_kernel, padding=qkv_kernel // 2)
        groups = T if attention_map == "grouped" else 1
        self.score = nn.Conv2d(D, T, attention_kernel, padding=attention_kernel // 2, groups=groups)
        self.merge = nn.Conv2d(D, D, merge_kernel, padding=merge_kernel // 2)
        self.activation = activation

    def attention_logits(self, q: torch.Tensor, k: torch.Tensor, pairwise: bool = False) -> torch.Tensor:
        """Logits H (B, Nq, Nk, T, H', W') of eq. (7) from q, k (B, N, D, H', W')."""
        B, N, D, H, W = q.shape
        act = ACTIVATIONS[self.activation]
        if act is None and not pairwise:
            # linear M_theta: Conv(Q_n + K_m) = Conv_nobias(Q_n) + Conv(K_m)
            sq = F.conv2d(q.reshape(B * N, D, H, W), self.score.weight, None, padding=self.score.padding,
                          groups=self.score.groups).view(B, N, self.T, H, W)
            sk = self.score(k.reshape(B * N, D, H, W)).view(B, N, self.T, H, W)
            return sq[:, :, None] + sk[:, None, :]
        s = q[:, :, None] + k[:, None, :]  # (B, N, N, D, H, W)
        if act is not None:
            s = act(s)
        return self.score(s.reshape(B * N * N, D, H, W)).view(B, N, N, self.T, H, W)

    def forward(self, h: torch.Tensor, gmask: torch.Tensor | None = None, return_attention: bool = False,
                pairwise: bool = False):
        B, N, D, H, W = h.shape
        q, k, v = self.qkv(h.reshape(B * N, D, H, W)).view(B, N, 3, D, H, W).unbind(2)
        logits = self.attention_logits(q, k, pairwise=pairwise)
        if gmask is not None:
            logits = logits.masked_fill(~gmask[:, None, :, None, None, None], float("-inf"))
        attn = torch.softmax(logits, dim=2)  # over the N key positions
        vh = v.reshape(B, N, self.T, D // self.T, H, W)
        out = torch.einsum("bnmthw,bmtchw->bntchw", attn, vh).reshape(B * N, D, H, W)
        out = self.merge(out).view(B, N, D, H, W)
        return (out, attn) if return_attention else out


class FeedForward(nn.Module):
    """Convolutional FFN applied to every position: conv-ReLU-[BN]-conv-[ReLU-BN]."""

    def __init__(self, D: int, d_ff: int, kernel: int, kind: str = "bn") -> None:
        super().__init__()
        pad = kernel // 2
        if kind == "bn":  # released feed_forward.py: conv2_bn(relu(w_2(conv1_bn(relu(w_1(x))))))
            layers = [nn.Conv2d(D, d_ff, kernel, padding=pad), nn.ReLU(), nn.BatchNorm2d(d_ff),
                      nn.Conv2d(d_ff, D, kernel, padding=pad), nn.ReLU(), nn.BatchNorm2d(D)]
        else:
            layers = [nn.Conv2d(D, d_ff, kernel, padding=pad), nn.ReLU(), nn.Conv2d(d_ff, D, kernel, padding=pad)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvBERTLayer(nn.Module):
    """One convolutional BERT layer; ``N, H, W`` size the released LayerNorm over (D, H', W', N)."""

    def __init__(self, cfg: ModelConfig, N: int | None = None, H: int | None = None, W: int | None = None) -> None:
        super().__init__()
        D = cfg.D
        self.sublayer = cfg.sublayer
        self.attention = ConvAttention(D, cfg.T, cfg.qkv_kernel, cfg.attention_kernel, cfg.merge_kernel,
                                       cfg.attention_activation, cfg.attention_map)
        self.ffn = FeedForward(D, cfg.d_ff, cfg.ffn_kernel, cfg.ffn)
        if cfg.sublayer == "pre_layernorm":
            if None in (N, H, W):
                raise ValueError("ConvBERTLayer: sublayer='pre_layernorm' needs N, H', W' (its LayerNorm covers them)")
            self.norm1 = nn.LayerNorm([D, H, W, N])
            self.norm2 = nn.LayerNorm([D, H, W, N])
            self.dropout = nn.Identity()  # the released SublayerConnection has no dropout
        else:
            self.norm1 = nn.GroupNorm(1, D)
            self.norm2 = nn.GroupNorm(1, D)
            self.dropout = nn.Dropout(cfg.dropout)

    @staticmethod
    def _layernorm(norm: nn.LayerNorm, h: torch.Tensor) -> torch.Tensor:
        # (B, N, D, H, W) -> (B, D, H, W, N), the authors' layout, so the weights match theirs
        return norm(h.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)

    def _ffn(self, h: torch.Tensor) -> torch.Tensor:
        B, N, D, H, W = h.shape
        return self.ffn(h.reshape(B * N, D, H, W)).view(B, N, D, H, W)

    def forward(self, h: torch.Tensor, gmask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, D, H, W = h.shape
        if self.sublayer == "pre_layernorm":
            h = h + self.attention(self._layernorm(self.norm1, h), gmask)
            return h + self._ffn(self._layernorm(self.norm2, h))
        a = self.attention(h, gmask)
        x = self.norm1((h + self.dropout(a)).reshape(B * N, D, H, W)).view(B, N, D, H, W)
        x = self.norm2((x + self.dropout(self._ffn(x))).reshape(B * N, D, H, W))
        return x.view(B, N, D, H, W)


class ConvEntion(nn.Module):
    """Full network; ``forward(x, band, mask) -> logits``."""

    def __init__(self, cfg: ModelConfig, n_classes: int, stamp_size: int, M: int) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.n_classes, self.stamp_size, self.M = cfg, n_classes, stamp_size, M
        self.N = math.ceil(M / cfg.K)
        hs = cfg.spatial_out(stamp_size)
        self.band_embed = nn.Embedding(cfg.band_vocab, stamp_size * stamp_size, padding_idx=0)
        self.cnn = CNN3D(cfg)
        self.register_buffer("pe", positional_encoding(self.N, cfg.D), persistent=False)
        self.layers = nn.ModuleList([ConvBERTLayer(cfg, self.N, hs, hs) for _ in range(cfg.L)])
        n_in = cfg.D if cfg.pool == "global" else cfg.D * hs * hs
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(n_in, cfg.classifier_hidden), nn.ReLU(inplace=True),
                                        nn.Dropout(cfg.dropout), nn.Linear(cfg.classifier_hidden, n_classes))

    def features(self, x: torch.Tensor, band: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F after the ConvBERT: (B, N, D, H', W') and the sub-sequence mask (B, N) (all True
        when ``mask_padding`` is off)."""
        B, M, S, _ = x.shape
        if S != self.stamp_size:
            raise ValueError(f"ConvEntion: stamps are {S} px but the model was built for {self.stamp_size} px")
        K = self.cfg.K
        Mp = self.N * K
        if M > Mp:
            raise ValueError(f"ConvEntion: sequence length {M} exceeds the model's M={self.M}")
        if M < Mp:  # pad with blanks up to N*K
            x = F.pad(x, (0, 0, 0, 0, 0, Mp - M))
            band = F.pad(band, (0, Mp - M))
            mask = F.pad(mask, (0, Mp - M))
        e = self.band_embed(band).view(B, Mp, S, S)
        j = torch.stack([x, e], dim=1)  # (B, 2, Mp, S, S)
        j = j.view(B, 2, self.N, K, S, S).permute(0, 2, 1, 3, 4, 5)  # (B, N, 2, K, S, S)
        s = self.cnn(j)
        h = s + self.pe.to(s.dtype)
        if self.cfg.mask_padding:
            gmask = mask.view(B, self.N, K).any(dim=-1)
            gmask = gmask | ~gmask.any(dim=1, keepdim=True)  # an all-padding sequence attends everywhere
        else:  # the released trainer passes mask=None: padding is attended to and pooled
            gmask = torch.ones(B, self.N, dtype=torch.bool, device=x.device)
        for layer in self.layers:
            h = layer(h, gmask if self.cfg.mask_padding else None)
        return h, gmask

    def forward(self, x: torch.Tensor, band: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, gmask = self.features(x, band, mask)
        if self.cfg.mask_padding:
            h = h.masked_fill(~gmask[:, :, None, None, None], float("-inf"))
        if self.cfg.pool == "global":
            z = h.amax(dim=(1, 3, 4))
        else:
            z = h.amax(dim=1).flatten(1)
        return self.classifier(z)

    def head_parameter_names(self) -> list[str]:
        """State-dict keys of the final classifier layer (re-initialised when the class count changes)."""
        return [f"classifier.{len(self.classifier) - 1}.weight", f"classifier.{len(self.classifier) - 1}.bias"]


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def paper_n_params(n_classes: int = 4, stamp_size: int = 32, M: int = 99, reading: str = "paper_settings") -> int:
    """Parameters of ConvEntion at the paper settings: the released network (``RELEASED``,
    1,253,108 for 4 classes) or, with ``reading="table2_reading"``, Table 2 read literally
    (``TABLE2_READING``, D = 64: 1,267,660)."""
    if reading not in READINGS:
        raise ValueError(f"paper_n_params: reading {reading!r} not in {sorted(READINGS)}")
    return n_params(ConvEntion(READINGS[reading], n_classes, stamp_size, M))
