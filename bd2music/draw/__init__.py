"""Drawing -> sound: a drawing's strokes read as pitch (height), volume (thickness, ink) and timbre (colour), left
to right as time, played by the music sampler or the sound bank (``DrawPipeline``).

* ``readings``: what the three readings mean (the one definition for labels, classical and learned readings);
* ``strokes``: the ink found and split into strokes; ``measure``: their measurements and the classical reading;
* ``reading``: ``DrawingReader``, classical or learned (``bd2music.models.draw_reader``);
* ``plan``: readings -> events and notes; ``render``: the sampler and bank sounds; ``bank_pitch``: clip pitches;
* ``pipeline``: ``DrawPipeline`` (read -> plan -> render -> master).
"""
