"""The text corpora reader: contiguous splits, PTB folders, the vocabulary, truncated-BPTT batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab.data.text import EOS, UNK, Vocabulary, batchify, bptt_batches, load_corpus, words
from lab.errors import DataError
from lab.paths import shared_datasets


def write(path, data: bytes | str):
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --------------------------------------------------------------------------------------------------
# Plain files


def test_char_splits_are_contiguous_and_follow_the_fractions(tmp_path):
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    corpus = load_corpus(write(tmp_path / "t.txt", text), level="chars", fractions=(0.8, 0.15, 0.05))
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (800, 150, 50)
    assert "".join(corpus.train + corpus.valid + corpus.test) == text
    assert corpus.train == list(text[:800]) and corpus.test == list(text[950:])
    assert corpus.n_chars == 1000 and corpus.level == "chars"
    assert corpus.source == "t.txt (1,000 characters), split 80/15/5"


def test_word_splits_cut_between_tokens_with_eos_and_skip_blank_lines(tmp_path):
    lines = [f"w{i} x{i}" for i in range(30)]  # 30 lines of 2 words + <eos> = 90 tokens
    text = "\n\n".join(lines) + "\n   \n"
    corpus = load_corpus(write(tmp_path / "w.txt", text), level="words", fractions=(0.9, 0.1, 0.0))
    assert corpus.train[:6] == ["w0", "x0", EOS, "w1", "x1", EOS]
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (81, 9, 0)
    assert corpus.train + corpus.valid == words(text)
    assert corpus.valid[-3:] == ["w29", "x29", EOS]


def test_words_can_be_lower_cased_with_punctuation_split_off(tmp_path):
    text = "Now, fair Hippolyta, our hour\nO'er the NIGHT; THESEUS:\n\n"
    assert words(text, lowercase=True, split_punctuation=True) == [
        "now", ",", "fair", "hippolyta", ",", "our", "hour", EOS, "o'er", "the", "night", ";", "theseus", ":",
        EOS]
    assert words(text, lowercase=True)[:3] == ["now,", "fair", "hippolyta,"]
    corpus = load_corpus(write(tmp_path / "w.txt", text * 20), level="words", split_punctuation=True)
    assert "Hippolyta" in corpus.train and "Hippolyta," not in corpus.train
    with pytest.raises(ValueError, match="level 'words'"):
        load_corpus(tmp_path / "w.txt", level="chars", lowercase=True)


def test_crlf_becomes_lf_and_max_chars_keeps_the_first_characters(tmp_path):
    path = write(tmp_path / "crlf.txt", b"ab\r\ncd\r\n" * 50)
    corpus = load_corpus(path, level="chars", fractions=(0.5, 0.25, 0.25), max_chars=100)
    joined = "".join(corpus.train + corpus.valid + corpus.test)
    assert "\r" not in joined and joined == ("ab\ncd\n" * 20)[:100]
    assert corpus.n_chars == 100 and "first 100 characters" in corpus.source
    assert load_corpus(path, level="words").train[:4] == ["ab", EOS, "cd", EOS]


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"e\.txt: the file is empty"):
        load_corpus(write(tmp_path / "e.txt", b""), level="chars")


def test_not_utf8_names_the_byte_offset_and_the_bytes(tmp_path):
    path = write(tmp_path / "bad.txt", b"abc\xffdef")
    with pytest.raises(DataError) as info:
        load_corpus(path, level="chars")
    message = str(info.value)
    assert "bad.txt" in message and "byte offset 3 " in message and "ff" in message and "line 1" in message
    with pytest.raises(DataError, match=r"line 3: not UTF-8 text: byte offset 7 holds e9"):
        load_corpus(write(tmp_path / "latin1.txt", b"a\nb\ncaf\xe9\n"), level="words")


def test_too_big_and_missing(tmp_path):
    path = write(tmp_path / "big.txt", "x" * 100)
    with pytest.raises(DataError, match=r"big\.txt: 100 bytes is more than the limit of 50 bytes"):
        load_corpus(path, level="chars", max_bytes=50)
    with pytest.raises(DataError, match="no such file"):
        load_corpus(tmp_path / "nope.txt", level="chars")


def test_a_split_that_comes_out_empty_is_named(tmp_path):
    with pytest.raises(DataError, match=r"the valid split is empty: the file has 10 characters"):
        load_corpus(write(tmp_path / "tiny.txt", "0123456789"), level="chars")
    with pytest.raises(DataError, match="no words"):
        load_corpus(write(tmp_path / "blank.txt", " \n\n \t\n"), level="words")


@pytest.mark.parametrize("fractions", [(0.9, 0.1), (0.5, 0.3, 0.3), (0.0, 0.5, 0.5), (1.1, -0.05, -0.05)])
def test_bad_fractions(tmp_path, fractions):
    with pytest.raises(ValueError, match="fractions"):
        load_corpus(write(tmp_path / "t.txt", "x" * 100), level="chars", fractions=fractions)


# --------------------------------------------------------------------------------------------------
# Penn Treebank folders


def write_ptb(folder, names=("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")):
    folder.mkdir(exist_ok=True)
    texts = {"ptb.train.txt": " the cat sat \n the <unk> ran \n\n", "ptb.valid.txt": " a cat \n",
             "ptb.test.txt": " the dog \n"}
    for name in names:
        write(folder / name, texts[name])
    return folder


def test_ptb_folder_gives_the_three_files_as_splits(tmp_path):
    corpus = load_corpus(write_ptb(tmp_path / "ptb"), level="words", fractions=(0.2, 0.4, 0.4))
    assert corpus.train == ["the", "cat", "sat", EOS, "the", UNK, "ran", EOS]
    assert corpus.valid == ["a", "cat", EOS] and corpus.test == ["the", "dog", EOS]
    assert "Penn Treebank" in corpus.source


def test_ptb_folder_missing_file_and_chars_refused(tmp_path):
    folder = write_ptb(tmp_path / "ptb", names=("ptb.train.txt",))
    with pytest.raises(DataError) as info:
        load_corpus(folder, level="words")
    message = str(info.value)
    assert "missing ptb.valid.txt, ptb.test.txt" in message and "found: ptb.train.txt" in message
    with pytest.raises(DataError, match="word level only"):
        load_corpus(write_ptb(tmp_path / "full"), level="chars")


# --------------------------------------------------------------------------------------------------
# Vocabulary


def test_vocabulary_from_train_only_ordered_by_count_then_token():
    train = "b a c a b a <unk> d".split()
    vocab = Vocabulary.build(train)
    assert vocab.tokens == [UNK, "a", "b", "c", "d"]  # a:3, b:2, then c, d tied at 1 -> by token
    assert vocab.id(UNK) == 0 and vocab.id("zebra") == 0 and vocab.token(1) == "a"
    assert vocab.counts == {UNK: 1, "a": 3, "b": 2, "c": 1, "d": 1}
    assert "a" in vocab and "zebra" not in vocab and len(vocab) == 5
    ids = vocab.encode(["a", "zebra", "d"])
    assert ids.dtype == np.int32 and ids.tolist() == [1, 0, 4]
    assert vocab.decode(ids) == ["a", UNK, "d"]
    with pytest.raises(ValueError, match="outside"):
        vocab.decode([5])


def test_vocabulary_max_size_and_min_count():
    train = list("aaaabbbccd")
    assert Vocabulary.build(train, max_size=3).tokens == [UNK, "a", "b"]
    small = Vocabulary.build(train, min_count=2)
    assert small.tokens == [UNK, "a", "b", "c"] and small.counts[UNK] == 1  # d mapped to unk
    assert sum(Vocabulary.build(train, max_size=2).counts.values()) == len(train)


def test_oov_rate_counts_literal_unk():
    vocab = Vocabulary.build("the cat sat on the mat".split())
    # "dog" and "<unk>" are outside; 2 of 5
    assert vocab.oov_rate("the dog sat <unk> mat".split()) == pytest.approx(2 / 5)
    assert vocab.oov_rate([]) == 0.0


def test_char_vocabulary_unk_cannot_collide():
    vocab = Vocabulary.build(list("hello <unk>"))
    assert vocab.tokens[0] == UNK and all(len(t) == 1 for t in vocab.tokens[1:])
    assert "<" in vocab


def test_vocabulary_json_round_trip_and_damaged_files(tmp_path):
    vocab = Vocabulary.build("é b a b".split(), max_size=3)
    path = vocab.save(tmp_path / "vocab.json")
    assert not (tmp_path / "vocab.json.tmp").exists()
    back = Vocabulary.load(path)
    assert back.tokens == vocab.tokens and back.counts == vocab.counts and back.unk == vocab.unk
    assert Vocabulary.from_json(vocab.to_json()).tokens == vocab.tokens

    write(tmp_path / "cut.json", path.read_text(encoding="utf-8")[:20])
    with pytest.raises(DataError, match=r"cut\.json, line 1, column \d+: not JSON"):
        Vocabulary.load(tmp_path / "cut.json")
    write(tmp_path / "foreign.json", json.dumps({"a": 1}))
    with pytest.raises(DataError, match=r"foreign\.json: not a vocabulary saved by the lab"):
        Vocabulary.load(tmp_path / "foreign.json")
    damaged = vocab.to_json() | {"tokens": ["b", UNK, "a"]}
    write(tmp_path / "damaged.json", json.dumps(damaged))
    with pytest.raises(DataError, match=r"damaged\.json: damaged vocabulary"):
        Vocabulary.load(tmp_path / "damaged.json")
    write(tmp_path / "counts.json", json.dumps(vocab.to_json() | {"counts": [1]}))
    with pytest.raises(DataError, match="counts"):
        Vocabulary.load(tmp_path / "counts.json")


# --------------------------------------------------------------------------------------------------
# Truncated-BPTT batches


def test_batchify_cuts_contiguous_rows_and_drops_the_tail():
    rows = batchify(np.arange(23, dtype=np.int32), 4)
    assert rows.shape == (4, 5) and rows.dtype == np.int32
    assert rows[1].tolist() == [5, 6, 7, 8, 9] and rows[-1, -1] == 19


def test_bptt_windows_continue_rows_and_y_is_x_shifted():
    ids = np.arange(103, dtype=np.int32)  # 4 rows of 25: windows of 6 -> (25 - 1) // 6 = 4 windows
    x, y = bptt_batches(ids, batch_size=4, seq_len=6)
    assert x.shape == y.shape == (4, 4, 6) and x.dtype == np.int32
    assert x[0, 1].tolist() == [25, 26, 27, 28, 29, 30]
    assert (y == x + 1).all()  # ids are consecutive numbers, so "one token later" is +1
    for k in range(len(x) - 1):
        assert (x[k + 1, :, 0] == y[k, :, -1]).all()
        assert (x[k + 1, :, 0] == x[k, :, -1] + 1).all()
    rows = batchify(ids, 4)
    assert (np.concatenate(list(x), axis=1) == rows[:, :24]).all()  # rows read window after window
    assert (np.concatenate(list(y), axis=1) == rows[:, 1:25]).all()


def test_bptt_too_short_says_what_one_batch_needs():
    x, _ = bptt_batches(np.arange(12), batch_size=2, seq_len=5)  # exactly one window fits
    assert x.shape == (1, 2, 5)
    with pytest.raises(DataError, match=r"valid split has 11 tokens; one batch needs "
                                        r"batch_size\*\(seq_len\+1\)=2\*\(5\+1\)=12; lower batch_size or "
                                        r"seq_len, or give more text"):
        bptt_batches(np.arange(11), batch_size=2, seq_len=5, split="valid")


# --------------------------------------------------------------------------------------------------
# The shared Shakespeare file


def test_shakespeare_first_1115394_characters():
    path = shared_datasets() / "shakespeare.txt"
    if not path.is_file():
        pytest.skip(f"{path} is not here (offline data sets live in ../shared/datasets)")
    corpus = load_corpus(path, level="chars", max_chars=1_115_394)
    assert corpus.n_chars == 1_115_394
    assert len(corpus.train) + len(corpus.valid) + len(corpus.test) == 1_115_394
    assert len(corpus.train) == int(1_115_394 * 0.9)
    assert corpus.source == "shakespeare.txt (first 1,115,394 characters), split 90/5/5"
    vocab = Vocabulary.build(corpus.train)
    assert 50 < len(vocab) < 100 and vocab.oov_rate(corpus.test) < 0.01
    x, y = bptt_batches(vocab.encode(corpus.valid), batch_size=32, seq_len=100, split="valid")
    assert x.shape[1:] == (32, 100) and (x[1:, :, 0] == y[:-1, :, -1]).all()
