"""gguf-py, imported the one way the GGUF generators need it.

gguf-py (llama.cpp's gguf-py folder, on PYTHONPATH) imports sentencepiece
at module level although writing files never uses it; where sentencepiece
is not installed a stand-in module lets the import go through. Exits with
the fix when gguf-py itself is missing."""
import sys
import types


def load():
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        sp = types.ModuleType("sentencepiece")
        sp.SentencePieceProcessor = None
        sys.modules["sentencepiece"] = sp
    try:
        import gguf
        from gguf import quants  # noqa: F401  (gguf.quants, for the generators that quantize)
    except ImportError as e:
        sys.exit(f"cannot import gguf-py ({e}): set PYTHONPATH=$LLAMA_CPP_DIR/gguf-py")
    return gguf
