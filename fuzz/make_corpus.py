#!/usr/bin/env python3
"""Writes the generated seeds of fuzz/corpus/ (the others are copies or excerpts of fixtures, see
fuzz/README.md): XGBoost models cut down to their first trees, and a safetensors file holding every dtype
Loupe reads. Run from the repository root: python3 fuzz/make_corpus.py. Needs only the standard library."""
import json
import math
import struct

FIXTURES = 'tests/fixtures/xgboost/'
CORPUS = 'fuzz/corpus/'


def first_trees(source, target, count):
    document = json.load(open(FIXTURES + source))
    booster = document['learner']['gradient_booster']
    model = booster['gbtree']['model'] if booster['name'] == 'dart' else booster['model']
    model['trees'] = model['trees'][:count]
    for index, tree in enumerate(model['trees']):
        tree['id'] = index
    model['tree_info'] = model['tree_info'][:count]
    model['gbtree_model_param']['num_trees'] = str(count)
    if booster['name'] == 'dart':
        booster['weight_drop'] = booster['weight_drop'][:count]
    with open(CORPUS + 'xgboost/' + target, 'w') as out:
        out.write(json.dumps(document, separators=(',', ':')))


def safetensors(target, tensors, metadata):
    header, data = {}, b''
    for name, (dtype, shape, raw) in tensors.items():
        data += b'\0' * (-len(data) % 8)  # every tensor starts at a multiple of its element size
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    header['__metadata__'] = metadata
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(CORPUS + 'safetensors/' + target, 'wb') as out:
        out.write(struct.pack('<Q', len(text)) + text + data)


first_trees('credit_xgb.json', 'credit_binary_3trees.json', 3)  # binary:logistic, categorical splits
first_trees('diabetes3_xgb.json', 'diabetes3_softprob_3trees.json', 3)  # multi:softprob
first_trees('diabetes_dart.json', 'diabetes_dart_2trees.json', 2)  # dart
first_trees('diabetes_xgb.json', 'diabetes_reg_2trees.json', 2)  # reg:squarederror
safetensors('every_dtype.safetensors', {
    'f32': ('F32', [2, 2], struct.pack('<4f', 1, -2, 3.5, math.inf)),
    'f16': ('F16', [3], struct.pack('<3e', 1, -0.5, 65504)),
    'bf16': ('BF16', [2], bytes([0x80, 0x3f, 0x00, 0xc0])),
    'f64': ('F64', [1, 1, 2], struct.pack('<2d', 1e300, -1e-300)),
    'i64': ('I64', [2], struct.pack('<2q', -1, 2**62)),
    'empty': ('F32', [0, 3], b''),
    'scalar': ('F32', [], struct.pack('<f', 7)),
}, {'format': 'pt', 'note': 'fuzz seed'})


def tokenizer_seed(source, target, keep, text):
    """A tokenizer.json fixture cut to its first `keep` vocabulary entries (BPE: the merges among them),
    then a NUL byte and a text to encode."""
    document = json.load(open('tests/fixtures/tokenizers/' + source))
    model = document['model']
    if isinstance(model['vocab'], list):  # Unigram: [piece, score] pairs
        model['vocab'] = model['vocab'][:keep]
    else:
        model['vocab'] = dict(list(model['vocab'].items())[:keep])
    if 'merges' in model:
        kept = model['vocab']
        model['merges'] = [m for m in model['merges'] if ''.join(m.split(' ')) in kept][:keep]
    with open(CORPUS + 'tokenizer_json/' + target, 'wb') as out:
        out.write(json.dumps(document, separators=(',', ':'), ensure_ascii=False).encode() + b'\0' + text.encode())


tokenizer_seed('bert_wordpiece.json', 'bert_wordpiece.json', 120, "Héllo, the WORLD's 東京 food!")
tokenizer_seed('gpt2_bpe.json', 'gpt2_bpe.json', 300, "The cat isn't here  \n  it's 42 ℃ 👍")
tokenizer_seed('unigram.json', 'unigram.json', 120, 'ﬁne Ünïcode\tand spaces')
tokenizer_seed('wordlevel_split.json', 'wordlevel_split.json', 80, "I'd say it's good-ish, isn't it?")
