"""The sound bank: licensed clips, indexed once, that the scene backend picks from.

    bank = SoundBank.load()                    # the shipped weights/bank, or SoundBank.load("my/bank")
    order = bank.rank(latent=z, embedding=e, descriptors={"tempo": 96.0}, mask=bank.mask(kind="bed"))
    samples = bank.audio(order[0], 44_100)     # float32 mono, decoded once, resampled with soxr
    bank.clips[order[0]].license               # ClipInfo: id, category, label, kind, license, author, ...

``index`` loads and queries a bank (the index format and the ranking score are documented there), ``build``
makes one from a folder of clips (``bd2music bank build DIR --out OUT``), ``curate`` picks the shipped subset
under a size budget and ``card`` writes its README.
"""

from bd2music.bank.build import BankConfig, build_bank
from bd2music.bank.curate import CurationConfig
from bd2music.bank.index import DEFAULT_BANK, ClipInfo, RankWeights, SoundBank

__all__ = ["DEFAULT_BANK", "BankConfig", "ClipInfo", "CurationConfig", "RankWeights", "SoundBank", "build_bank"]
