"""tokenizer.json fixtures for `pvc generate --prompt` (imported by generate.py; needs the `tokenizers` package).

tokenizer.json: a word-level tokenizer whose 100 ids match the fixtures' 100-token vocabulary (id 0 = "<eos>",
the end-of-sequence token pvc generate finds by name), whitespace pre-tokenizer, unknown words -> "<unk>" (id 1).
tokenizer_120.json: the same with 120 words, which no fixture's logits cover (the mismatch error's test).
"""
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

WORDS = """the a an of to in and is was it that on for with as by at from this be are were or not but
he she they we you I his her their our my your one two three four five six seven eight nine ten
cat dog bird fish tree river sun moon star sky rain snow wind fire water stone city road house door
red blue green black white small large old new good bad fast slow happy sad says went saw made
""".split()


def build(n):
    words = ["<eos>", "<unk>"] + WORDS + [f"w{i}" for i in range(n)]
    vocab = {w: i for i, w in enumerate(words[:n])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return tok


def make_tokenizers(out_dir):
    report = {}
    for name, n in (("tokenizer.json", 100), ("tokenizer_120.json", 120)):
        path = os.path.join(out_dir, name)
        build(n).save(path, pretty=False)
        report[name] = f"{n} tokens, {os.path.getsize(path)} bytes"
    return report


if __name__ == "__main__":
    print(make_tokenizers(os.path.dirname(os.path.abspath(__file__))))
