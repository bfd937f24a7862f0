#!/usr/bin/python3
"""Trains the example's tiny BERT on the fortune-cookie sayings and saves it as `save_pretrained` would.

    (mkdir -p /tmp/tokjs && cd /tmp/tokjs && npm install @huggingface/tokenizers@0.2.0)
    NODE_PATH=/tmp/tokjs/node_modules /usr/bin/python3 examples/text_classifier/train_bert.py

Writes examples/text_classifier/bert/: config.json, model.safetensors and tokenizer.json, the three files
`model.save_pretrained(dir)` and `tokenizer.save_pretrained(dir)` write for a BertForSequenceClassification.
`transformers` is not installed here, so the model is the PyTorch re-implementation with Hugging Face's
parameter names in tests/fixtures/hf_models/make_fixtures.py (which also writes model.safetensors by hand);
the tokenizer is BERT's (BertNormalizer, BertPreTokenizer, WordPiece, [CLS] ... [SEP]) over the words of
the runtime's text fixture vocabulary, and the training texts are tokenized by Tokenizers.js, the reference
Loupe's tokenizer is tested against. With `transformers` you would write instead:

    model = BertForSequenceClassification(BertConfig(...)); ...train...
    model.save_pretrained("bert"); tokenizer.save_pretrained("bert")

Deterministic on one thread: hidden 32, 2 layers of 4 heads, feed-forward 64, 64 positions, 8 topics.
"""
import importlib.util
import json
import pathlib
import random

import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "bert"
TOPICS = ["computers", "food", "law", "love", "medicine", "politics", "science", "sports"]


def fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", ROOT / "tests/fixtures/hf_models/make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_data():
    import csv

    with open(ROOT / "tests/data/fortunes_topics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [TOPICS.index(r["topic"]) for r in rows]


def bert_tokenizer():
    """BERT's tokenizer.json over the words of the runtime's text fixture vocabulary (no ## pieces)."""
    tokenizer = json.loads((ROOT / "tests/fixtures/tokenizers/text_vocab.json").read_text())
    words = tokenizer["model"]["vocab"]
    tokenizer["model"] = {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                          "max_input_chars_per_word": 100, "vocab": words}
    tokenizer["decoder"] = {"type": "WordPiece", "prefix": "##", "cleanup": True}
    return tokenizer


def config(vocab_size):
    fx = fixtures()
    c = fx.bert_config(vocab_size)
    c.update({"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
              "max_position_embeddings": 64, **fx.labels_of(TOPICS)})
    return c


def train(model, ids, labels, epochs=40):
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    order = list(range(len(ids)))
    rng = random.Random(0)
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), 32):
            batch = order[start:start + 32]
            x, mask = pad([ids[i] for i in batch])
            logits, _ = model(x, mask)
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([labels[i] for i in batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if epoch % 10 == 9:
            print(f"epoch {epoch + 1}: loss {total / len(order):.3f}")


def pad(rows):
    length = max(len(r) for r in rows)
    return (torch.tensor([r + [0] * (length - len(r)) for r in rows]),
            torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows]))


def accuracy(model, ids, labels):
    with torch.no_grad():
        right = 0
        for start in range(0, len(ids), 256):
            x, mask = pad(ids[start:start + 256])
            right += (model(x, mask)[0].argmax(-1) == torch.tensor(labels[start:start + 256])).sum().item()
    return right / len(ids)


def main():
    torch.set_num_threads(1)
    fx = fixtures()
    OUT.mkdir(exist_ok=True)
    tokenizer = bert_tokenizer()
    (OUT / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False, separators=(",", ":")))
    texts, labels = read_data()
    # Tokenizers.js ignores the file's truncation; the tokenizers library (and Loupe) keep [CLS], the first
    # 62 tokens and [SEP].
    ids = [x if len(x) <= 64 else x[:63] + x[-1:] for x in fx.tokenizers_js_ids(OUT / "tokenizer.json", texts)]
    c = config(len(tokenizer["model"]["vocab"]))
    torch.manual_seed(0)
    model = fx.BertForSequenceClassification(c)
    with torch.no_grad():  # BERT's initializer: normal(0, initializer_range), LayerNorm 1 / 0, biases 0
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, c["initializer_range"])
    train(model.train(), ids, labels)
    model.eval()
    print(f"training accuracy {accuracy(model, ids, labels):.3f}")
    (OUT / "config.json").write_text(json.dumps(c, indent=2, sort_keys=True) + "\n")
    fx.write_safetensors(OUT / "model.safetensors", model.state_dict())
    # What Loupe must reproduce: the probabilities of the pipeline's five rows (README.md).
    for row in (850, 2151, 2321, 2464, 2526):
        x, mask = pad([ids[row]])
        with torch.no_grad():
            p = torch.softmax(model(x, mask)[0], -1)[0]
        print(row, TOPICS[labels[row]], "->", TOPICS[int(p.argmax())], f"{float(p.max()):.4f}")


if __name__ == "__main__":
    main()
