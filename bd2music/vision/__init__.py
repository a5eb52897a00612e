"""Page understanding: panel and balloon detection, reading order and visual features."""
