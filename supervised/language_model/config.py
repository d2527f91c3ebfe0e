"""Scenario model of the ``language-model`` task: a text corpus -> an rnn | gru | lstm | transformer
next-token model, beside an interpolated Kneser-Ney n-gram fitted on the same tokens.

No TensorFlow imported here (``lab validate`` stays fast).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lab.schema import Figure, Scenario, Section, Supports, epoch_training


class TextDataConfig(Section):
    path: str | None = Field(
        None, description="A UTF-8 text file (cut contiguously into train/valid/test by `fractions`), or a "
        "folder in the Penn Treebank layout (ptb.train.txt, ptb.valid.txt, ptb.test.txt; words only). null: "
        "the Shakespeare beside the lab (../shared/datasets/shakespeare.txt).")
    level: Literal["chars", "words"] = Field("chars", description="Tokens: characters, or "
                                             "whitespace-separated words with an <eos> token at the end of "
                                             "each line.")
    lowercase: bool = Field(False,
                            description="words: fold the text to lower case (as the Penn Treebank is).")
    split_punctuation: bool = Field(False, description="words: make each punctuation mark a word of its own "
                                    "(\"night;\" -> \"night\" \";\"), so words are not multiplied by what "
                                    "follows them; apostrophes inside words stay.")
    fractions: list[float] = Field([0.9, 0.05, 0.05], min_length=3, max_length=3, description="Shares of a "
                                   "text file for train, validation and test, cut in that order (PTB "
                                   "folders: ignored).")
    max_chars: int | None = Field(None, ge=1, description="Keep only the first N characters of a text file "
                                  "(1115394: the size of tiny-shakespeare); null: all.")
    vocab_size: int | None = Field(None, ge=2, le=1_000_000, description="Keep the most frequent tokens of "
                                   "the training split, <unk> included (PTB: 10000); null: every training "
                                   "token.")
    min_count: int = Field(1, ge=1, description="Tokens seen fewer times than this in the training split "
                                                "become <unk>.")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(f < 0 for f in v) or v[0] <= 0 or abs(sum(v) - 1) > 1e-6:
            raise ValueError(f"fractions must be three shares (train, valid, test) that are not negative, "
                             f"with train above 0, summing to 1 (got {v}); e.g. [0.9, 0.05, 0.05]")
        if v[1] == 0 or v[2] == 0:
            raise ValueError("fractions: the validation and test shares must be above 0 (early stopping "
                             "reads the first, the figures the second); e.g. [0.9, 0.05, 0.05]")
        return v


class LanguageModelConfig(Section):
    cell: Literal["rnn", "gru", "lstm", "transformer"] = Field(
        "lstm", description="The cell: rnn (Elman's, tanh), gru (Cho et al.), lstm (Hochreiter & "
        "Schmidhuber), or transformer (a decoder-only, causal, pre-norm transformer reading each window "
        "whole: the window is its state).")
    layers: int = Field(1, ge=1, le=48, description="Recurrent layers, or transformer blocks, stacked.")
    units: int = Field(512, ge=1, le=8192, description="Units of each recurrent layer (its state size); the "
                       "transformer's width (its embedding size).")
    embedding: int | None = Field(None, ge=1, le=8192, description="Size of the token embedding (with "
                                  "tie_weights: must equal units); null: 64, or units when the weights are "
                                  "tied (the transformer's is always units).")
    heads: int = Field(4, ge=1, le=256, description="transformer: attention heads (each units / heads wide).")
    mlp_ratio: int = Field(4, ge=1, le=16, description="transformer: width of each block's MLP, in units.")
    context: int | None = Field(
        None, ge=1, le=10_000, description="transformer: the tokens each position attends to in each block "
        "(itself and the context - 1 before it; shorter than the window: a sliding band, which stacked "
        "blocks widen); null: the whole window (training.seq_len).")
    init_scale: float | None = Field(None, gt=0, le=1, description="Draw every weight uniformly in [-s, s], "
                                     "as Zaremba et al.'s code does (0.1 small, 0.05 medium; the LSTM's "
                                     "forget bias then starts at 0 too); null: Keras' initialisers.")
    input_dropout: float = Field(0.0, ge=0, lt=1,
                                 description="Dropout on the embeddings entering the first layer.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout between recurrent layers; the transformer's "
                           "dropout on attention weights and on each residual branch.")
    output_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the last layer's outputs before "
                                  "the softmax layer.")
    tie_weights: bool | None = Field(
        None, description="Share the embedding matrix with the output layer (Press & Wolf; Inan et al.): "
        "fewer parameters and better word models. null: false for the recurrent cells; the transformer's "
        "output is always tied.")

    @property
    def recurrent(self) -> bool:
        return self.cell != "transformer"

    @property
    def tied(self) -> bool:
        return not self.recurrent or bool(self.tie_weights)

    @property
    def embedding_size(self) -> int:
        return self.units if self.tied else (self.embedding or 64)


class LanguageTrainingConfig(epoch_training("LanguageEpochs", monitor="val_nats", epochs=10, batch_size=64,
                                            learning_rate=0.002, final_learning_rate_fraction=0.01)):
    """How the language model learns: ``batch_size`` contiguous streams of the training text, one window of
    ``seq_len`` tokens of each per step; early stopping watches the validation nats per token."""

    seq_len: int = Field(100, ge=2, le=10_000, description="Tokens per window: gradients flow back this far "
                         "(truncated backpropagation through time); the state flows on across windows.")
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="The Keras optimizer "
                                                                  "(sgd: plain, as in Zaremba et al.).")
    weight_decay: float = Field(0.0, ge=0, le=1, description="Decoupled weight decay of adamw (0: none).")
    clipnorm: float | None = Field(1.0, gt=0, description="Clip the global norm of the gradients to this "
                                   "(null: no clipping).")
    loss_reduction: Literal["token", "window"] = Field(
        "token", description="What one step minimises: the cross-entropy averaged over every token of the "
        "batch (token, Keras' default), or summed over each window's seq_len tokens and averaged over the "
        "batch (window: Zaremba et al.'s and the TensorFlow PTB tutorial's, whose learning rate and clipping "
        "are set for a gradient seq_len times larger). Curves and figures stay in nats per token.")
    eval_batch_size: int = Field(8, ge=1, le=4096, description="Streams the validation and test text are cut "
                                 "into for scoring (few: each stream's first token is read without context).")


class NgramConfig(Section):
    order: int | None = Field(None, ge=1, le=10, description="Order of the interpolated Kneser-Ney baseline "
                              "(null: 5 for characters, 3 for words).")


class GenerateConfig(Section):
    prompt: str = Field("\n", max_length=2000, description="Text the report's samples start from "
                        "(characters; words are split on whitespace).")
    length: int = Field(300, ge=1, le=100_000, description="Tokens in each sample of the report.")
    temperatures: list[float] = Field([0.5, 0.8, 1.0], min_length=1, max_length=10, description="One sample "
                                      "at each temperature in the report.")

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(t <= 0 or t > 100 for t in v):
            raise ValueError(f"temperatures must be above 0 and at most 100 (got {v})")
        return v


class LanguageModelScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu"),
                        why="the state carried across windows lives in each stateful layer for the whole "
                            "batch; splitting a batch across replicas would mix the streams")
    figures = {
        "test_nats": Figure("lower", "val_nats"),
        "valid_nats": Figure("lower", "val_nats"),
        "test_bits_per_char": Figure("lower", "val_nats"),
        "ratio_to_kn": Figure("lower", "val_nats"),
    }
    data: TextDataConfig = Field(default_factory=TextDataConfig, description="The text.")
    model: LanguageModelConfig = Field(default_factory=LanguageModelConfig, description="The network.")
    training: LanguageTrainingConfig = Field(default_factory=LanguageTrainingConfig,
                                             description="How it learns.")
    ngram: NgramConfig = Field(default_factory=NgramConfig,
                               description="The n-gram baseline fitted in the same run.")
    generate: GenerateConfig = Field(default_factory=GenerateConfig, description="The report's samples.")

    @model_validator(mode="after")
    def _consistent(self):
        m = self.model
        if self.data.level == "chars" and (self.data.lowercase or self.data.split_punctuation):
            raise ValueError("data.lowercase and data.split_punctuation shape words; with data.level: chars "
                             "leave them false")
        if m.tied and m.embedding is not None and m.embedding != m.units:
            who = "the transformer" if not m.recurrent else "model.tie_weights"
            raise ValueError(f"{who} shares the embedding with the output layer, so model.embedding "
                             f"({m.embedding}) must equal model.units ({m.units}); or leave model.embedding "
                             f"out")
        if m.recurrent:
            if m.context is not None:
                raise ValueError(f"model.context is a transformer setting; with model.cell: {m.cell} leave "
                                 f"it out (the state carries the context), or set model.cell: transformer")
            if m.dropout and m.layers == 1:
                raise ValueError("model.dropout acts between recurrent layers and there is one "
                                 "(model.layers: 1); use input_dropout / output_dropout, or add layers")
            return self
        return self._transformer_consistent()

    def _transformer_consistent(self):
        m, window = self.model, self.training.seq_len
        if m.units % m.heads:
            fits = min((h for h in range(1, 65) if m.units % h == 0), key=lambda h: abs(h - m.heads))
            raise ValueError(f"model.heads ({m.heads}) must divide model.units ({m.units}): each head is "
                             f"units / heads wide; e.g. heads: {fits}")
        if m.tie_weights is False:
            raise ValueError("the transformer's output layer is always its embedding matrix; leave "
                             "model.tie_weights out")
        if m.context is not None and m.context > window:
            raise ValueError(f"model.context ({m.context}) is longer than the window the transformer reads "
                             f"(training.seq_len: {window}): it could never attend that far; set "
                             f"model.context <= {window}, or raise training.seq_len")
        return self

    @property
    def ngram_order(self) -> int:
        return self.ngram.order or (5 if self.data.level == "chars" else 3)
