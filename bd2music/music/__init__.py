"""Music: the page becomes a score played by recorded instruments.

``score`` (notes and scores), ``instruments`` (a multisample bank rendered from a General MIDI SoundFont and the
sampler that plays it), ``library`` (public-domain pieces from the music21 corpus, tagged once), ``compose``
(the procedural composer and the arranger that fit a piece to the plan). The ``music`` backend
(``bd2music.backends.music``) puts them together.
"""
