"""Write tests/fixtures/toxicity_reference.json with the ORIGINAL Keras model's outputs.

Run once, in a throwaway environment that has TensorFlow (never a harness dependency):

    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu h5py numpy
    /tmp/tfenv/bin/pip install --no-deps toxic-comment-classifier==0.3.0
    /tmp/tfenv/bin/python scripts/make_toxicity_reference.py

It scores fixed texts with the package's own `ToxicCommentClassifier.classify` (its Keras
model, its pickled Keras tokenizer, Keras `pad_sequences`) and records, per text, the
tokenizer's id sequence and the six probabilities, plus the TensorFlow/Keras versions and
the SHA-256 of the model files, so the test can check it compares the same files.
The texts are short phrases written for this project (benign, mildly rude) and edge cases.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "toxicity_reference.json"

BENIGN_PARAGRAPH = (
    "The committee met on Tuesday to review the draft of the new library guidelines, "
    "and after a long discussion about opening hours, study rooms and the reading list "
    "for the summer, everyone agreed to meet again next month. "
)

TEXTS = [
    "",
    "   ",
    "!!! ??? ...",
    "hello",
    "Thank you for your help with the article, it reads much better now.",
    "I think the second paragraph needs a citation.",
    "What a lovely photo of the harbour at sunset.",
    "Could you explain how the proof of the lemma works?",
    "You are a wonderful person.",
    "you are an idiot",
    "Shut up, you stupid fool!",
    "This edit is complete crap and so are you.",
    "I hate you and your dumb opinions.",
    "What a loser, nobody wants you here.",
    "YOU ARE AN IDIOT",
    "line one\nline two\tthree\r\nfour",
    "Café naïve résumé ÉCOLE straße İstanbul",
    "这是一个测试",
    "I ❤️ this!!! 👍",
    "numbers 12345 and 3.14159 and 1,000,000",
    "hanumakonda automakers ciu 956ce",
    "weren't they reverted? don't",
    "a" * 5000,
    BENIGN_PARAGRAPH * 8,
    "you are an idiot. " + BENIGN_PARAGRAPH * 8,
    BENIGN_PARAGRAPH * 8 + " you are an idiot.",
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    import keras
    import tensorflow as tf
    import toxic_classifier
    from toxic_classifier.model import LIST_CLASSES, ToxicCommentClassifier

    model_dir = Path(toxic_classifier.__file__).parent / "model"
    classifier = ToxicCommentClassifier()
    cases = []
    for text in TEXTS:
        sequence = classifier.tokenizer.texts_to_sequences([text])[0]
        scores = classifier.classify(text)
        cases.append({"text": text, "sequence": [int(i) for i in sequence], "scores": scores})
    from importlib.metadata import version

    fixture = {
        "generated_by": "scripts/make_toxicity_reference.py (ToxicCommentClassifier.classify)",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "toxic_comment_classifier": version("toxic-comment-classifier"),
        "weights_sha256": sha256(model_dir / "model.weights.h5"),
        "tokenizer_sha256": sha256(model_dir / "tokenizer.pickle"),
        "labels": list(LIST_CLASSES),
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
