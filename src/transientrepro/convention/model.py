"""The ConvEntion network (Bairouk et al. 2023, Fig. 2, §3.1-3.3).

Input: ``x`` (B, M, S, S) separated, normalised images; ``band`` (B, M) band ids 1..5 (0 = pad);
``mask`` (B, M) True for real images. Output: class logits (B, C).

1. BandEmbed (eq. 1): ``nn.Embedding(6, S*S, padding_idx=0)`` (a bias-free fully connected layer on
   the one-hot band id) reshaped to S x S and concatenated with the image as a 2nd channel:
   J (B, 2, M, S, S). Row 0 (padding) is fixed at zero.
2. 3-D CNN (eq. 3, Table 2): J is cut into N = M / K sub-sequences of K images (M is padded up to a
   multiple of K with masked blanks); each passes through Conv3d + BatchNorm3d + ReLU layers with
   kernels (k_t, k, k) = (3, 11, 11), (3, 5, 5), (3, 3, 3), (3, 3, 3) and 64, 128, 64, 64 filters
   (configurable). In time the convolutions are "same"-padded with stride 1 and the K outputs are
   averaged, so each sub-sequence yields one entry S_n (D, H', W'); in space the strides/paddings
   are configurable (paper settings: stride 2 then 1, padding 2, 2, 0, 0: 32 px -> H' = 9).
3. 3-D positional encoding (eq. 4-6): P[n, 2i] = sin(n / 10000^(2i/D)), P[n, 2i+1] =
   cos(n / 10000^(2i/D)), constant over (H', W'), added: F = S + P.
4. Convolutional BERT, L layers of
   a. multi-head convolutional attention (§3.3.2): Q, K, V = Conv2d(D, 3D) of F_n (D' = D/T per
      head); attention map of head t for (n, m): H_(n,m) = M_theta(Q_n, K_m) = Conv2d_t(Q_n + K_m)
      (a grouped Conv2d, D' -> 1 channel per head, so each head sees only its own channels),
      optionally with a nonlinearity on Q_n + K_m (``attention_activation``); softmax over m (the N
      positions, masked where a whole sub-sequence is padding), separately at every pixel;
      V'_n = sum_m softmax(H_n)_(n,m) * V_m (eq. 8); heads concatenated (eq. 9) and merged by a
      Conv2d(D, D);
   b. residual + normalisation (GroupNorm(1, D): layer norm over (D, H', W') with per-channel
      affine), dropout on the branch;
   c. convolutional FFN: Conv2d(D, d_ff) - ReLU - Conv2d(d_ff, D); residual + normalisation.
5. 3-D max-pooling over (N, H', W') of the valid positions (``pool="global"``; ``pool="sequence"``
   pools over N only and flattens D x H' x W', as the authors' released code does), then the
   classifier: Dropout - Linear(., hidden) - ReLU - Dropout - Linear(hidden, C) (dropout 0.3).

Note on eq. (7): with a *linear* M_theta (sum then convolution, as the paper describes),
Conv(Q_n + K_m) = Conv(Q_n) + Conv(K_m) and the Q_n term is constant along the softmax axis m, so
the attention weights do not depend on the query. We implement the paper literally by default
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


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters; the defaults are the paper settings (Table 2, §4.1)."""

    K: int = 3
    cnn_channels: tuple[int, ...] = (64, 128, 64, 64)
    cnn_kernels: tuple[int, ...] = (11, 5, 3, 3)
    cnn_strides: tuple[int, ...] = (2, 1, 1, 1)
    cnn_paddings: tuple[int, ...] = (2, 2, 0, 0)
    cnn_temporal_kernel: int = 3
    L: int = 2
    T: int = 4
    d_ff: int = 64
    qkv_kernel: int = 1
    attention_kernel: int = 5
    merge_kernel: int = 3
    ffn_kernel: int = 3
    attention_activation: str = "none"
    pool: str = "global"
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
        if self.pool not in ("global", "sequence"):
            raise ValueError(f"{where}.pool: {self.pool!r} not in ['global', 'sequence']")
        if self.K < 1 or self.L < 0 or self.T < 1:
            raise ValueError(f"{where}: need K >= 1, L >= 0, T >= 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{where}.dropout must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @property
    def D(self) -> int:
        return self.cnn_channels[-1]

    def spatial_out(self, stamp: int) -> int:
        s = stamp
        for k, st, p in zip(self.cnn_kernels, self.cnn_strides, self.cnn_paddings):
            s = (s + 2 * p - k) // st + 1
            if s < 1:
                raise ValueError(f"convention.model: the 3-D CNN shrinks a {stamp}-px stamp below 1 px "
                                 f"(kernels {self.cnn_kernels}, strides {self.cnn_strides}, paddings {self.cnn_paddings})")
        return s


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
    """Table 2: Conv3d + BatchNorm3d + ReLU blocks over one K-image sub-sequence."""

    def __init__(self, cfg: ModelConfig, in_channels: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, kt = in_channels, cfg.cnn_temporal_kernel
        for c, k, s, p in zip(cfg.cnn_channels, cfg.cnn_kernels, cfg.cnn_strides, cfg.cnn_paddings):
            layers += [nn.Conv3d(c_in, c, (kt, k, k), stride=(1, s, s), padding=(kt // 2, p, p)),
                       nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.net = nn.Sequential(*layers)

    def forward(self, j: torch.Tensor) -> torch.Tensor:  # (B*N, 2, K, S, S) -> (B*N, D, H', W')
        return self.net(j).mean(dim=2)


class ConvAttention(nn.Module):
    """Multi-head convolutional self-attention (§3.3.2, Fig. 5)."""

    def __init__(self, D: int, T: int, qkv_kernel: int, attention_kernel: int, merge_kernel: int,
                 activation: str = "none") -> None:
        super().__init__()
        self.D, self.T = D, T
        self.qkv = nn.Conv2d(D, 3 * D, qkv_kernel, padding=qkv_kernel // 2)
        self.score = nn.Conv2d(D, T, attention_kernel, padding=attention_kernel // 2, groups=T)
        self.merge = nn.Conv2d(D, D, merge_kernel, padding=merge_kernel // 2)
        self.activation = activation

    def attention_logits(self, q: torch.Tensor, k: torch.Tensor, pairwise: bool = False) -> torch.Tensor:
        """Logits H (B, Nq, Nk, T, H', W') of eq. (7) from q, k (B, N, D, H', W')."""
        B, N, D, H, W = q.shape
        act = ACTIVATIONS[self.activation]
        if act is None and not pairwise:
            # linear M_theta: Conv(Q_n + K_m) = Conv_nobias(Q_n) + Conv(K_m)
            sq = F.conv2d(q.reshape(B * N, D, H, W), self.score.weight, None, padding=self.score.padding,
                          groups=self.T).view(B, N, self.T, H, W)
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


class ConvBERTLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        D = cfg.D
        self.attention = ConvAttention(D, cfg.T, cfg.qkv_kernel, cfg.attention_kernel, cfg.merge_kernel,
                                       cfg.attention_activation)
        self.norm1 = nn.GroupNorm(1, D)
        self.norm2 = nn.GroupNorm(1, D)
        self.ffn = nn.Sequential(nn.Conv2d(D, cfg.d_ff, cfg.ffn_kernel, padding=cfg.ffn_kernel // 2), nn.ReLU(inplace=True),
                                 nn.Conv2d(cfg.d_ff, D, cfg.ffn_kernel, padding=cfg.ffn_kernel // 2))
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, gmask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, D, H, W = h.shape
        a = self.attention(h, gmask)
        x = self.norm1((h + self.dropout(a)).reshape(B * N, D, H, W))
        x = self.norm2(x + self.dropout(self.ffn(x)))
        return x.view(B, N, D, H, W)


class ConvEntion(nn.Module):
    """Full network; ``forward(x, band, mask) -> logits``."""

    def __init__(self, cfg: ModelConfig, n_classes: int, stamp_size: int, M: int) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.n_classes, self.stamp_size, self.M = cfg, n_classes, stamp_size, M
        self.N = math.ceil(M / cfg.K)
        self.band_embed = nn.Embedding(6, stamp_size * stamp_size, padding_idx=0)
        self.cnn = CNN3D(cfg)
        self.register_buffer("pe", positional_encoding(self.N, cfg.D), persistent=False)
        self.layers = nn.ModuleList([ConvBERTLayer(cfg) for _ in range(cfg.L)])
        hs = cfg.spatial_out(stamp_size)
        n_in = cfg.D if cfg.pool == "global" else cfg.D * hs * hs
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(n_in, cfg.classifier_hidden), nn.ReLU(inplace=True),
                                        nn.Dropout(cfg.dropout), nn.Linear(cfg.classifier_hidden, n_classes))

    def features(self, x: torch.Tensor, band: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F after the ConvBERT: (B, N, D, H', W') and the sub-sequence mask (B, N)."""
        B, M, S, _ = x.shape
        if S != self.stamp_size:
            raise ValueError(f"ConvEntion: stamps are {S} px but the model was built for {self.stamp_size} px")
        K = self.cfg.K
        Mp = self.N * K
        if M > Mp:
            raise ValueError(f"ConvEntion: sequence length {M} exceeds the model's M={self.M}")
        if M < Mp:  # pad with masked blanks up to N*K
            x = F.pad(x, (0, 0, 0, 0, 0, Mp - M))
            band = F.pad(band, (0, Mp - M))
            mask = F.pad(mask, (0, Mp - M))
        e = self.band_embed(band).view(B, Mp, S, S)
        j = torch.stack([x, e], dim=1)  # (B, 2, Mp, S, S)
        j = j.view(B, 2, self.N, K, S, S).permute(0, 2, 1, 3, 4, 5).reshape(B * self.N, 2, K, S, S)
        s = self.cnn(j)
        _, D, H, W = s.shape
        h = s.view(B, self.N, D, H, W) + self.pe.to(s.dtype)
        gmask = mask.view(B, self.N, K).any(dim=-1)
        gmask = gmask | ~gmask.any(dim=1, keepdim=True)  # an all-padding sequence attends everywhere
        for layer in self.layers:
            h = layer(h, gmask)
        return h, gmask

    def forward(self, x: torch.Tensor, band: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, gmask = self.features(x, band, mask)
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


def paper_n_params(n_classes: int = 4, stamp_size: int = 32, M: int = 99) -> int:
    """Parameters of ConvEntion at the paper settings (``ModelConfig()`` defaults)."""
    return n_params(ConvEntion(ModelConfig(), n_classes, stamp_size, M))
