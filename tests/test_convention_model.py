"""ConvEntion network: shapes through every block, attention normalisation, parameter counts per
layer against the authors' released model (GitHub DaBihy/ConvEntion, HEAD 4d305dd, ``code/model/``),
and Table 2's literal reading."""
import dataclasses

import pytest
import torch

from transientrepro.convention.model import (
    CNN3D,
    RELEASED,
    TABLE2_READING,
    ConvAttention,
    ConvBERTLayer,
    ConvEntion,
    ModelConfig,
    n_params,
    paper_n_params,
    positional_encoding,
)
from transientrepro.paper import paper_numbers

torch.set_num_threads(1)

# a small network of each reading
TINY = dataclasses.replace(TABLE2_READING, cnn_channels=(4, 8, 8, 8), cnn_kernels=(3, 3, 3, 3), cnn_strides=(2, 1, 1, 1),
                           cnn_paddings=(1, 1, 1, 1), L=2, T=2, d_ff=8, classifier_hidden=16, attention_kernel=3)
TINY_RELEASED = dataclasses.replace(RELEASED, cnn_channels=(4, 8, 8, 8), cnn_kernels=(3, 3, 3, 3), cnn_strides=(2, 1, 1, 1),
                                    cnn_paddings=(1, 1, 1, 1), T=2, d_ff=16, classifier_hidden=16, attention_kernel=3)


def _batch(B=3, M=9, S=16, n_valid=(9, 5, 1)):
    torch.manual_seed(0)
    x = torch.randn(B, M, S, S)
    band = torch.randint(1, 6, (B, M))
    mask = torch.zeros(B, M, dtype=torch.bool)
    for i, n in enumerate(n_valid):
        mask[i, :n] = True
    band[~mask] = 0
    x[~mask] = 0
    return x, band, mask


# Expected parameters per layer of the released network, 4 classes, M=99, K=3, 32 px, read from the
# authors' code at HEAD 4d305dd (the same modules at a6d0e5c):
RELEASED_LAYERS = {
    "band_embed": 10 * 1024,                            # conv_bert.py:26  nn.Embedding(10, 1024, padding_idx=0)
    "cnn.net.0": 2 * 64 * 11 * 11 * 3 + 64,             # feature_generator.py:10-14  Conv3d(2, 64, (11, 11, 3))
    "cnn.net.1": 2 * 64,                                # feature_generator.py:30  BatchNorm3d(64)
    "cnn.net.3": 64 * 128 * 5 * 5 * 3 + 128,            # feature_generator.py:15-19  Conv3d(64, 128, (5, 5, 3))
    "cnn.net.4": 2 * 128,                               # feature_generator.py:31
    "cnn.net.6": 128 * 64 * 27 + 64,                    # feature_generator.py:20-24  Conv3d(128, 64, (3, 3, 3))
    "cnn.net.7": 2 * 64,                                # feature_generator.py:32
    "cnn.net.9": 64 * 8 * 27 + 8,                       # feature_generator.py:25-29  Conv3d(64, configs[1]=8, (3, 3, 3))
    "cnn.net.10": 2 * 8,                                # feature_generator.py:33
    # one ConvBERT layer (transformer.py:17-20), D = hidden[1] = 8 (config.yaml:11)
    "layers.0.attention.qkv": 8 * 24 + 24,              # attention/multi_head.py:19-21  Conv2d(8, 3*8, 1)
    "layers.0.attention.score": 8 * 4 * 25 + 4,         # attention/single.py:16-18  Conv2d(8, heads=4, 5, padding=2)
    "layers.0.attention.merge": 8 * 8 * 9 + 8,          # attention/multi_head.py:23  out_conv Conv2d(8, 8, 3)
    "layers.0.ffn.net.0": 8 * 16 * 9 + 16,              # utils/feed_forward.py:11  w_1 Conv2d(8, 2*8, 3) (conv_bert.py:22)
    "layers.0.ffn.net.2": 2 * 16,                       # utils/feed_forward.py:13  conv1_bn BatchNorm2d(16)
    "layers.0.ffn.net.3": 16 * 8 * 9 + 8,               # utils/feed_forward.py:12  w_2 Conv2d(16, 8, 3)
    "layers.0.ffn.net.5": 2 * 8,                        # utils/feed_forward.py:14  conv2_bn BatchNorm2d(8)
    "layers.0.norm1": 2 * 8 * 9 * 9 * 33,               # utils/sublayer.py:14  nn.LayerNorm(size[1:]) = (8, 9, 9, 33)
    "layers.0.norm2": 2 * 8 * 9 * 9 * 33,
    "classifier.1": 648 * 256 + 256,                    # classification_model.py:25  Linear(8*9*9, 256)
    "classifier.4": 256 * 4 + 4,                        # classification_model.py:28  linear3 Linear(256, 4)
}
LINEAR_CON = 256 * 128 + 128                            # classification_model.py:26  linearCon, never used in forward


def test_released_network_per_layer_counts_and_total():
    model = ConvEntion(RELEASED, 4, 32, 99)
    mods = dict(model.named_modules())
    for name, expected in RELEASED_LAYERS.items():
        assert n_params(mods[name]) == expected, name
    layer0 = sum(v for k, v in RELEASED_LAYERS.items() if k.startswith("layers.0."))
    assert n_params(model.layers[1]) == layer0 == 89_516
    total = sum(v for k, v in RELEASED_LAYERS.items() if not k.startswith("layers.")) + 2 * layer0
    assert n_params(model) == total == 1_253_108 == paper_n_params(4, 32, 99)
    assert total + LINEAR_CON == 1_286_004  # the authors' object as built (FEASIBILITY.md)
    assert paper_n_params(3, 32, 99) == 1_252_851
    reported = paper_numbers()["convention"]["results_4class"]["convention_ugriz"]["n_params"]
    assert round(n_params(model), -3) == reported  # "1.253M"


def test_table2_reading_count():
    """Table 2's 64 channels as D (the project's network before issue 10): 1,267,660."""
    model = ConvEntion(TABLE2_READING, 4, 32, 99)
    assert n_params(model) == paper_n_params(4, 32, 99, reading="table2_reading") == 1_267_660
    assert n_params(model.cnn) == 993_600
    assert n_params(model.band_embed) == 6 * 1024
    with pytest.raises(ValueError, match="reading"):
        paper_n_params(reading="table3")


def test_released_shapes_through_every_block():
    """32 px, K=3: time 3 -> 3 -> 5 -> 3 -> 1 and space 32 -> 13 -> 13 -> 11 -> 9 (stride 2 and
    padding 2 act on time too); S (B, N=33, 8, 9, 9); the time-only pool feeds 648 features."""
    model = ConvEntion(RELEASED, 4, 32, 99).eval()
    assert RELEASED.temporal_out() == 1 and RELEASED.spatial_out(32) == 9 and model.N == 33
    shapes = []
    hooks = [model.cnn.net[i].register_forward_hook(lambda m, a, out: shapes.append(tuple(out.shape[2:])))
             for i in (0, 3, 6, 9)]
    x, band, mask = _batch(B=1, M=99, S=32, n_valid=(40,))
    with torch.no_grad():
        feats, gmask = model.features(x, band, mask)
        logits = model(x, band, mask)
    for h in hooks:
        h.remove()
    assert shapes[:4] == [(3, 13, 13), (5, 13, 13), (3, 11, 11), (1, 9, 9)]
    assert feats.shape == (1, 33, 8, 9, 9)
    assert gmask.all()  # the released trainer passes mask=None
    assert model.layers[0].norm1.normalized_shape == (8, 9, 9, 33)
    assert model.classifier[1].in_features == 648
    assert logits.shape == (1, 4) and torch.isfinite(logits).all()


def test_block_shapes():
    cfg = TINY
    x, band, mask = _batch()
    model = ConvEntion(cfg, 4, 16, 9).eval()
    assert model.N == 3
    e = model.band_embed(band)
    assert e.shape == (3, 9, 256)
    assert torch.all(model.band_embed(torch.zeros(1, dtype=torch.long)) == 0)  # padding row fixed at 0
    j = torch.randn(2, 3, 2, 3, 16, 16)
    s = CNN3D(cfg)(j)
    assert s.shape == (2, 3, 8, cfg.spatial_out(16), cfg.spatial_out(16)) == (2, 3, 8, 8, 8)
    pe = positional_encoding(3, 8)
    assert pe.shape == (3, 8, 1, 1)
    assert torch.allclose(pe[0, 0::2, 0, 0], torch.zeros(4)) and torch.allclose(pe[0, 1::2, 0, 0], torch.ones(4))
    assert torch.isclose(pe[2, 2, 0, 0], torch.sin(torch.tensor(2 / 10000 ** (2 / 8))))
    assert torch.isclose(pe[2, 3, 0, 0], torch.cos(torch.tensor(2 / 10000 ** (2 / 8))))
    h = torch.randn(3, 3, 8, 8, 8)
    assert ConvBERTLayer(cfg)(h).shape == h.shape
    assert ConvBERTLayer(TINY_RELEASED, 3, 8, 8)(h).shape == h.shape
    with pytest.raises(ValueError, match="needs N"):
        ConvBERTLayer(TINY_RELEASED)
    feats, gmask = model.features(x, band, mask)
    assert feats.shape == (3, 3, 8, 8, 8)
    assert gmask.tolist() == [[True, True, True], [True, True, False], [True, False, False]]
    logits = model(x, band, mask)
    assert logits.shape == (3, 4) and torch.isfinite(logits).all()


def test_per_position_batchnorm_matches_joint_in_eval_and_not_in_training():
    joint = ConvEntion(dataclasses.replace(TINY_RELEASED, cnn_batchnorm="joint"), 4, 16, 9)
    per = ConvEntion(TINY_RELEASED, 4, 16, 9)
    per.load_state_dict(joint.state_dict())
    x, band, mask = _batch()
    with torch.no_grad():
        assert torch.allclose(joint.eval()(x, band, mask), per.eval()(x, band, mask), atol=1e-5)
        f_joint, _ = joint.train().features(x, band, mask)
        f_per, _ = per.train().features(x, band, mask)
    assert not torch.allclose(f_joint, f_per, atol=1e-3)  # batch statistics per position vs over all


def test_sequence_pool_and_padding_to_multiple_of_K():
    cfg = dataclasses.replace(TINY, pool="sequence")
    model = ConvEntion(cfg, 3, 16, 8)  # M=8 is padded to N*K = 9
    x, band, mask = _batch(M=8, n_valid=(8, 5, 1))
    assert model(x, band, mask).shape == (3, 3)
    assert model.classifier[1].in_features == 8 * 8 * 8


def test_attention_weights_sum_to_one_and_respect_mask():
    for amap in ("grouped", "full"):
        att = ConvAttention(8, 2, 1, 3, 3, activation="relu", attention_map=amap)
        h = torch.randn(2, 4, 8, 5, 5)
        gmask = torch.tensor([[True, True, True, True], [True, True, False, False]])
        out, a = att(h, gmask, return_attention=True)
        assert out.shape == h.shape
        assert a.shape == (2, 4, 4, 2, 5, 5)  # (B, N query, N key, T, H', W')
        assert torch.allclose(a.sum(dim=2), torch.ones(2, 4, 2, 5, 5), atol=1e-6)
        assert torch.all(a[1, :, 2:] == 0)  # masked key positions get no weight
    # the full map reads all D channels per head; the grouped one only D/T
    assert n_params(ConvAttention(8, 4, 1, 5, 3, attention_map="full").score) == 8 * 4 * 25 + 4
    assert n_params(ConvAttention(8, 4, 1, 5, 3, attention_map="grouped").score) == 2 * 4 * 25 + 4


@pytest.mark.parametrize("amap", ["grouped", "full"])
def test_linear_attention_fast_path_equals_pairwise(amap):
    att = ConvAttention(8, 4, 1, 5, 3, activation="none", attention_map=amap)
    h = torch.randn(2, 5, 8, 6, 6)
    fast, a_fast = att(h, None, return_attention=True)
    slow, a_slow = att(h, None, return_attention=True, pairwise=True)
    assert torch.allclose(a_fast, a_slow, atol=1e-5)
    assert torch.allclose(fast, slow, atol=1e-5)
    # with a linear M_theta the weights do not depend on the query position (documented in model.py)
    assert torch.allclose(a_fast[:, 0], a_fast[:, 3], atol=1e-5)


def test_padding_masked_does_not_change_logits_but_released_unmasked_does():
    x, band, mask = _batch(B=1, M=9, n_valid=(6,))
    x2 = x.clone()
    x2[0, 6:] = 5.0  # garbage in padded (masked, whole sub-sequence) slots
    for cfg, invariant in ((TINY, True), (dataclasses.replace(TINY_RELEASED, mask_padding=True, sublayer="post_groupnorm"), True),
                           (TINY_RELEASED, False)):
        model = ConvEntion(cfg, 4, 16, 9).eval()
        with torch.no_grad():
            a, b = model(x, band, mask), model(x2, band, mask)
        assert torch.allclose(a, b, atol=1e-5) == invariant, cfg


def test_bad_config_errors():
    with pytest.raises(ValueError, match="divisible by T"):
        ModelConfig.from_mapping({"T": 3})
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_mapping({"heads": 3})
    with pytest.raises(ValueError, match="sublayer"):
        ModelConfig.from_mapping({"sublayer": "post_layernorm"})
    with pytest.raises(ValueError, match="band_vocab"):
        ModelConfig.from_mapping({"band_vocab": 5})
    with pytest.raises(ValueError, match="below one step"):
        ModelConfig.from_mapping({"K": 1, "cnn_paddings": [0, 0, 0, 0]})
    with pytest.raises(ValueError, match="below 1 px"):
        ModelConfig(cnn_kernels=(11, 11, 11, 11), cnn_paddings=(0, 0, 0, 0)).spatial_out(16)
    model = ConvEntion(TINY, 4, 16, 9)
    x, band, mask = _batch(S=16)
    with pytest.raises(ValueError, match="built for 16 px"):
        model(torch.zeros(1, 9, 12, 12), band[:1], mask[:1])


def test_benchmark_runs_on_a_tiny_model():
    from transientrepro.bench.convention import benchmark

    out = benchmark(TINY, M=6, stamp=16, n_classes=4, batch=2, steps=1, device="cpu", threads=1)
    assert out["n_params"] == n_params(ConvEntion(TINY, 4, 16, 6)) and out["seconds_per_step"] > 0
    assert out["paper_protocol_training_samples"] > 0
