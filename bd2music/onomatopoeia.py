"""Onomatopoeia: the words comics letter for sounds (English and romanized Japanese) and the sound each evokes.

Each row of :data:`TABLE` is a sound: the text query the audio-text model ranks the sound bank's clips with
("a gunshot"->"the sound of a gunshot"), the bank label that names that sound in the shipped bank
(``weights/bank/manifest.csv``; None when the bank has no such label: the text query alone then ranks it), and
the words lettered for it. :func:`sound_words` finds them in read text: exact words first (case and the
punctuation around a word ignored, hyphens kept or dropped), then stretched spellings (``BOOOOM``, ``GRRRR``,
``ZZZZ``: a run of three or more of one letter matches any run of that letter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TABLE: tuple[tuple[str, str | None, str], ...] = (  # (sound, bank label or None, words lettered for it)
    ("a gunshot", "gunshot", "BANG BLAM BLAMM POW PEW KAPOW KA-POW BLAT BAKYUN DOKYUN ZUKYUN PAAN"),
    ("machine gun fire", "gunfire", "RATATAT RAT-A-TAT BRAT BRATATAT BUDDA DADADA BARARARA"),
    ("an explosion", "explosion", "BOOM KABOOM KA-BOOM BADABOOM BLAM KRAKOOM DOKAN DOGAAN BAKUHATSU CHUDOON BOOOM"),
    ("a deep booming impact", "cinematic boom", "DOOM WHOOMPH FWOOM DON DOON ZUDON DOSHIN ZUSHIN GOGOGO DODODO"),
    ("a crash", "crash", "CRASH KRASH CRUNCH KERRASH GASHAN GACHAN GASHAAN"),
    ("glass breaking", "glass breaking", "SHATTER TINKLE KSSH PARIN GASHAN"),
    ("something breaking", "breaking", "CRACK KRAK SNAP CRICK BAKI BOKI POKI"),
    ("a punch or a hit", "melee swing or hit", "POW WHAM BAM BIFF THWACK WHACK SMACK "
                                               "SLAP PUNCH KAPOW BAKI BOKO DOKA BISHI BECHI"),
    ("a heavy thud", "impact", "THUD THUMP BUMP THUNK CLUNK KLUNK GON GOTSUN DOSA DOSU BATAN"),
    ("a splash of water", "splash", "SPLASH SPLISH SPLOSH SPLOOSH SPLOOSH SPLAT SPLORT "
                                    "PLOP PLOOP BASHA BASHAN ZABUN PICHA PISHA JABU"),
    ("water pouring", "pouring water", "GLUG GLUG-GLUG JAA JAAA DOBODOBO TOKU TOKUTOKU GOBOGOBO"),
    ("water dripping", "water drops", "DRIP DRIPS PLINK PLIP POTA POTSU PICHON PITA"),
    ("a whoosh", "whoosh", "WHOOSH SWOOSH SWISH WHIZZ WHIZ ZOOM FWOOSH WHOOSHH "
                           "SHUU SHU HYUN BYUN BUN SHUBA SHUBAA HYUU"),
    ("a car horn", "car horn", "HONK HONK-HONK BEEP-BEEP TOOT PUPPU PAAPU"),
    ("an engine running", "engine or machine", "VROOM VROOOM VRRR BRRM BRUMM RUMBLE BURORO BUROROM BUUN"),
    ("a bell ringing", "bell", "DING DONG DING-DONG DINGDONG CLANG GONG KAAN KIIN KARAN CHIRIN RIN RINRIN"),
    ("a knock on a door", "door wood knock", "KNOCK KNOCK-KNOCK TOK KON KONKON DONDON TONTON"),
    ("a door slamming", "door", "SLAM BLAM BATAN BATAAN BAN GACHA GACHA KACHA"),
    ("a creaking door", "door wood creaks", "CREAK CREEAK SQUEAK SKREEK KII GII GIII"),
    ("fireworks", "fireworks", "FWEEE PYUU DOON HYURURU"),
    ("a hiss of steam", "steam hiss", "HISS HSSS SSSS TSSS PSSH PSHH SHUUU JUU JUUU"),
    ("a burst of fire", "fire burst", "FWOOM WHOOMP FOOSH BOWA GOOO"),
    ("fire crackling", "crackling fire", "CRACKLE CRACKLE-CRACKLE PACHI PACHIPACHI MERAMERA BACHIBACHI"),
    ("an insect buzzing", "bee buzzing", "BUZZ BZZ BZZZ BUUN BUUUN"),
    ("snoring", "snoring", "ZZZ ZZZZ SNORE SNORK GUU GUUGUU GOOGOO SUPII"),
    ("a beast roaring", "beast roar", "ROAR RAWR RAAR GRAAH GAO GAOO GUOO UGAA"),
    ("a growl", "wolf or dog", "GRR GRRR GRRRR GROWL GURURU GURURURU"),
    ("a wolf howling", "wolf", "AWOO AWOOO AROOO OWOOO HOWL WAOON"),
    ("a dog barking", "dog", "WOOF ARF BARK RUFF BOW-WOW WAN WANWAN KYAN"),
    ("a cat meowing", "cat", "MEOW MIAOW MEW PURR NYA NYAA NYAN NYAO GORORO"),
    ("a cow mooing", "cow", "MOO MOOO MOOO MOO-MOO"),
    ("a sheep bleating", "sheep", "BAA BAAA MEE MEEE MEHH"),
    ("a pig oinking", "pig", "OINK OINK-OINK BUHI BUBU"),
    ("a hen clucking", "hen", "CLUCK BAWK BUKAW KOKO KOKOKO"),
    ("a rooster crowing", "rooster", "COCK-A-DOODLE-DOO COCKADOODLEDOO KOKEKOKKO KOKEKOKKOO"),
    ("birds chirping", "chirping birds", "TWEET CHIRP CHIRRUP CHEEP TWITTER CHUN CHUNCHUN PIPI PIYO PIYOPIYO"),
    ("a crow cawing", "crow", "CAW CAWW KAA KAAKAA AHOU"),
    ("a frog croaking", "frog", "RIBBIT CROAK KERO KEROKERO GEKO"),
    ("crickets chirping", "crickets", "CHIRR KRIK CRICK-CRICK RIIRII KORORO MIIN MIIIN"),
    ("a horse galloping", "horse hooves", "CLIP-CLOP CLOP CLIPPETY-CLOP HIHIIN PAKARA PAKAPAKA"),
    ("a clock ticking", "clock tick", "TICK TOCK TICK-TOCK TIKTOK CHIKU CHIKUTAKU KACHI KACHIKACHI"),
    ("an alarm clock ringing", "clock alarm", "BRRING BRRRING RRRING RIIIN JIRIRIRI PIPIPI"),
    ("a phone ringing", "phone", "RING RING-RING RRING PRRR PURURU PURURURU TRRING"),
    ("an alarm beeping", "alarm", "BEEP BEEEP BLEEP WEE-OO BII BIIBII PIPI"),
    ("a siren wailing", "siren", "WEE-OO WEEOO NEE-NAW NEENAW WOOO-WOOO UUU UUUU PIIPOO PIPOPIPO"),
    ("a train", "train", "CHOO-CHOO CHOO CHUGGA CHUGGA-CHUGGA CLICKETY-CLACK GATAN GOTON GATANGOTON SHUPOPPO"),
    ("typing on a keyboard", "keyboard typing", "CLACKETY TAP-TAP TIPPY-TAP KATA KATAKATA KACHAKACHA"),
    ("a click", "mouse click", "CLICK KLIK CLICK-CLICK KACHI KACHIRI KACHITTO POCHI"),
    ("footsteps", "footsteps", "STOMP TROMP THOMP TAP-TAP CLOMP PITTER-PATTER TOKO TOKOTOKO "
                               "ZUSHI ZUSHIN DOSUDOSU KATSU KOTSU KOTSUKOTSU TATTA SUTA SUTASUTA"),
    ("a sneeze", "sneezing", "ACHOO ATCHOO AH-CHOO HACHOO HAKUSHON HAKKUSHON KUSHUN"),
    ("a cough", "coughing", "COUGH KOFF AHEM GEHO GOHO GEHOGEHO KOHO"),
    ("someone drinking", "drinking sipping", "GULP GLUG SLURP GOKU GOKUGOKU ZUZU ZUZUU CHUU"),
    ("a burp", "burp", "BURP BURRP URP GEPPU GEFU"),
    ("heavy breathing", "breathing", "HUFF PANT PUFF GASP HAA HAAHAA ZEE ZEEHAA FUU FUUU HAHH"),
    ("a heartbeat", None, "BA-DUMP BADUMP THUMP-THUMP BU-BUMP BADUM DOKI DOKIDOKI DOKUN DOKUNDOKUN"),
    ("laughter", "laugh", "HAHA HAHAHA HA-HA HEHE HEHEHE HOHO HOHOHO TEEHEE "
                          "HARHAR GUFFAW KUSU KUSUKUSU GERAGERA WAHAHA AHAHA EHEHE UFUFU"),
    ("a baby crying", "crying baby", "WAAH WAAAH WAH WAHH BOOHOO SOB SNIFF UWAAN UEEN HOGYAA"),
    ("a cry of pain", "pain cry", "AAARGH ARGH AARGH AAAH YAAAH OUCH OW OWW ITAI ITEE GYAA GYAAA UGYAA"),
    ("a grunt of pain", "pain grunt", "OOF UGH UNGH HNGH GUH GUFU GUHA UGU"),
    ("applause", "applause", "CLAP CLAP PACHIPACHI PACHI-PACHI"),
    ("a crowd cheering", "crowd cheering", "HOORAY HURRAY YAY WOOHOO YAHOO WAAA"),
    ("a murmuring crowd", "crowd", "MURMUR CHATTER BLAH BLAH-BLAH ZAWA ZAWAZAWA GAYAGAYA WAIWAI DOYADOYA"),
    ("thunder rumbling", "rumble or thunder", "KRAKA-BOOM RUMBLE GROWL KRAKOOM BOOM "
                                              "GORO GOROGORO PISHAAN DORODORO BARIBARI"),
    ("rain falling", "rain", "PITTER PATTER PITTER-PATTER ZAA ZAAA ZAAAA SHITOSHITO PARAPARA BOTSU"),
    ("the wind blowing", "wind", "WHOOO WOOOSH HOWL BYUU BYUUU HYUUU HYUOO HYURURI SOYO SOYOSOYO"),
    ("a chainsaw", "chainsaw", "BRRRRR VREEE VRRRRR GYUIIN GIIIN"),
    ("a helicopter", "helicopter", "CHOP-CHOP WHUP-WHUP THWUP BABABA BARABARA"),
    ("a jet plane", "airplane", "FWEEEEEE SHHHOOOM KIIIIN GOOOO"),
    ("a robot", "robot", "BEEP-BOOP BLEEP-BLOOP WHIRR WHIRR-CLICK WEEN UIIN GASHIN GASHIIN"),
    ("a rocket launching", "rocket launch", "WHOOOSH FWOOSHH ROOOAR DOGOGOGO ZUGOGOGO"),
    ("an arrow hitting", "arrow impact", "THWIP THOCK THUNK TSUKA ZUKU SUKO"),
    ("a bow shot", "bow shot", "TWANG TWANGG FWIP BYUN HYUN"),
    ("cloth flapping", "cloth flap", "FLAP FLUTTER FLAP-FLAP FWAP BASA BASABASA HIRA HIRAHIRA BATABATA"),
    ("a rustle", "rustle or skid", "RUSTLE SHUFFLE SCRITCH KASA KASAKASA GASA GASAGOSO GOSO GOSOGOSO"),
    ("a skid", "gravel skid", "SCREECH SKREEEE SKID SKRRT KIKIII KIKIIII ZUZAA ZAZAA"),
    ("hammering metal", "blacksmith hammering", "CLANK CLINK KLANG TING KAN KANKAN KAAN TONKAN"),
    ("a building collapsing", "building collapse", "KRUNCH RUMBLE CRUMBLE GARAGARA GARAGARAGARA DOSHAA"),
    ("sawing wood", "hand saw", "RASP ZZZT GIKOGIKO GORIGORI"),
    ("a can opening", "can opening", "PSST PSHHT FSST PSHUU PUSHU KASHU"),
    ("a toilet flushing", "toilet flush", "FLUSH WHOOSH-FLUSH JAAA"),
    ("an electric zap", None, "ZAP ZZAP ZZT KZZT BZZT ZZZAP BACHI BIRIBIRI BIRI"),
    ("a pop", None, "POP POPP PLONK PON POKON POMU"),
    ("a spring bouncing", None, "BOING BOINNG BOING-BOING BOYON BOYOYON PYON PYOON"),
    ("a squish", None, "SQUISH SQUELCH SPLORCH GUCHA GUCHU BUCHU NURU"),
    ("a crunch", None, "CRUNCH CHOMP MUNCH NOM NOM-NOM KARI PORI PORIPORI BARIBARI SAKU MOGU MOGUMOGU"),
    ("paper tearing", None, "RIP RRRIP BIRI BIRIBIRI"),
    ("a sword slash", None, "SHING SHINNG SCHWING SHAKIN ZASHU ZUBA ZUBAA SHAKIIN"),
    ("metal clanging", None, "CLANG KLONG GAKIN GAKIIN KIIN"),
    ("a whistle", None, "TWEEEET FWEET PIII PIIIII PYUUI"),
    ("a gulp of nervousness", None, "GULP GOKURI GOKKUN"),
    ("a heavy silence", None, "SHIIN SHIIIN SHIIIIN"),
    ("a rattle", None, "RATTLE CLATTER KATA-KATA GATA GATAGATA GARAN"),
    ("tyres squealing", None, "SCREEEECH SKREECH KIKI KIKII"),
)
WORD = re.compile(r"[^A-Z0-9\-]+")


@dataclass(frozen=True)
class SoundWord:
    """One onomatopoeia: the word, the sound it evokes (a text query) and the bank label of that sound."""

    word: str
    sound: str
    label: str | None

    @property
    def query(self) -> str:
        """What the audio-text model ranks the bank with."""
        return f"the sound of {self.sound}"


def _entries() -> dict[str, SoundWord]:
    lexicon: dict[str, SoundWord] = {}
    for sound, label, words in TABLE:
        for word in words.split():
            lexicon.setdefault(word, SoundWord(word, sound, label))  # a word in two rows keeps its first sound
    return lexicon


LEXICON = _entries()  # word (upper case, hyphens kept) -> SoundWord


def _squeezed(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


_STRETCHED = {}
for _word, _entry in LEXICON.items():
    _STRETCHED.setdefault(_squeezed(_word), _entry)


def lookup(word: str) -> SoundWord | None:
    """The lexicon's entry for one lettered word (``Boom!``, ``KA-BOOM``, ``BOOOOM``), or None."""
    word = WORD.sub("", word.upper()).strip("-")
    if not word:
        return None
    for form in (word, word.replace("-", "")):
        if form in LEXICON:
            return LEXICON[form]
    if re.search(r"(.)\1\1", word):  # a stretched spelling
        return _STRETCHED.get(_squeezed(word.replace("-", "")))
    return None


def sound_words(text: str) -> list[tuple[str, SoundWord]]:
    """The onomatopoeia in ``text``, in order, as (the word as lettered, upper case, its entry)."""
    found = []
    for token in text.split():
        entry = lookup(token)
        if entry is not None:
            found.append((WORD.sub("", token.upper()).strip("-"), entry))
    return found
