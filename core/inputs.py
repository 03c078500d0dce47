"""Turning one prompt with 0..N images into the keyword arguments of ``model.generate()``."""

from __future__ import annotations

from PIL import Image


class InputBuilder:
    """Callable: ``builder(images, prompt, image_kwargs) -> dict`` of tensors for ``generate()``.

    ``images`` are the prompt's images in order (``[]`` for a text-only prompt; one PIL image
    is taken as a list of one). ``image_kwargs`` go to the image processor with this one call
    (a knob such as ``max_pixels`` or ``image_splitting``), so arms that differ in them share
    one builder.
    """

    image_processor = None  # the transformers image processor, where there is one

    def __call__(self, images: list[Image.Image] | Image.Image, prompt: str, image_kwargs: dict | None = None) -> dict:
        raise NotImplementedError


def image_list(images: list[Image.Image] | Image.Image) -> list[Image.Image]:
    return [images] if isinstance(images, Image.Image) else list(images)


class ProcessorInputs(InputBuilder):
    """Inputs from a transformers processor.

    With a checkpoint's chat template, the template places one image entry per image before
    the text (the generic path for any Hugging Face VLM). Without one (the built-in
    tokenizers), `template` is the family's prompt format, holding the image placeholder
    once: it is repeated once per image, and dropped for a text-only prompt.
    """

    def __init__(self, processor, template: str | None = None):
        self.processor = processor
        self.template = template
        self.image_processor = getattr(processor, "image_processor", None)

    def __call__(self, images: list[Image.Image] | Image.Image, prompt: str, image_kwargs: dict | None = None) -> dict:
        images = image_list(images)
        if self.template is None and getattr(self.processor, "chat_template", None):
            content = [{"type": "image"} for _ in images] + [{"type": "text", "text": prompt}]
            messages = [{"role": "user", "content": content}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            placeholder = getattr(self.processor, "image_token", None) or "<image>"
            template = (self.template or placeholder + "\n{prompt}").replace(placeholder, placeholder * len(images))
            text = template.format(prompt=prompt)
        if images:
            return dict(self.processor(images=images, text=text, return_tensors="pt", **(image_kwargs or {})))
        # A text-only prompt: no `images` at all (processors fail on an empty list).
        if type(self.processor).__name__ == "PaliGemmaProcessor":
            # it refuses text alone; its tokenizer gives what it would (BOS first, a newline last)
            tokenizer = self.processor.tokenizer
            return dict(tokenizer(tokenizer.bos_token + text + "\n", return_tensors="pt"))
        return dict(self.processor(text=text, return_tensors="pt"))
