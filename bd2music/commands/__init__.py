"""CLI subcommands: each module defines ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code)."""

COMMANDS = {
    "analyze": ("bd2music.commands.analyze", "detect panels and balloons, reading order and visual features"),
    "generate": ("bd2music.commands.generate", "turn pages, folders or .cbz albums into soundtracks (WAV + JSON)"),
    "depict": ("bd2music.commands.depict", "draw a comic page for each sound clip (PNG + JSON of its readings)"),
    "draw": ("bd2music.commands.draw", "turn drawings into sounds: pitch, volume and timbre read from the strokes"),
    "calibrate": ("bd2music.commands.calibrate", "fit the planner's quantile tables (head readings -> real sound)"),
    "evaluate": ("bd2music.commands.evaluate", "score generated soundtracks: structure, diversity, Frechet distance"),
    "evaluate-panels": ("bd2music.commands.evaluate_panels", "panel/balloon precision, recall, F1 on annotated pages"),
    "bank": ("bd2music.commands.bank", "build a sound bank: clips indexed for the scene backend"),
    "audio-features": ("bd2music.commands.audio_features", "audio descriptors (CSV, per-clip .npz, plots)"),
    "instruments": ("bd2music.commands.instruments", "render the instrument bank (samples) from a GM SoundFont"),
    "hub-manifest": ("bd2music.commands.hub_manifest", "pin the Hub weights repo, commit and file sha256s"),
    "pieces": ("bd2music.commands.pieces", "build the library of public-domain pieces the music backend arranges"),
    "make-pages": ("bd2music.commands.make_pages", "draw procedural comic pages with exact YOLO labels"),
    "reconstruct": ("bd2music.commands.reconstruct", "round-trip clips through the audio latent; sample its prior"),
    "text-to-audio": ("bd2music.commands.text_to_audio", "the sound a prompt describes (latent diffusion), WAV + JSON"),
    "train": ("bd2music.commands.train", "train a model (detector, vocoder, audio-vae, ..., draw, diffusion)"),
}
