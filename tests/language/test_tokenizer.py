"""pad_ids: the one padding of token id lists (vocabulary, text front, log sentence tables)."""

from textrec.language.tokenizer import pad_ids


def test_pad_ids_pads_cuts_and_keeps_each_lists_order():
    tokens, lengths = pad_ids([[5, 6, 7], [8], []], 2)
    assert tokens.tolist() == [[5, 6], [8, 0], [0, 0]] and lengths.tolist() == [2, 1, 0]
    tokens, lengths = pad_ids([[1, 2, 3], [4]])
    assert tokens.tolist() == [[1, 2, 3], [4, 0, 0]] and lengths.tolist() == [3, 1]
