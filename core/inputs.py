"""Turning one (image, prompt) into the keyword arguments of ``model.generate()``."""

from __future__ import annotations

from PIL import Image


class InputBuilder:
    """Callable: ``builder(image, prompt, image_kwargs) -> dict`` of tensors for ``generate()``.

    ``image_kwargs`` go to the image processor with this one call (a knob such as
    ``max_pixels`` or ``image_splitting``), so arms that differ in them share one builder.
    """

    image_processor = None  # the transformers image processor, where there is one

    def __call__(self, image: Image.Image, prompt: str, image_kwargs: dict | None = None) -> dict:
        raise NotImplementedError


class ProcessorInputs(InputBuilder):
    """Inputs from a transformers processor.

    With a checkpoint's chat template, the template places the image (the generic path for
    any Hugging Face VLM). Without one (the built-in tokenizers), `template` is the family's
    prompt format, holding the image placeholder its processor expands.
    """

    def __init__(self, processor, template: str | None = None):
        self.processor = processor
        self.template = template
        self.image_processor = getattr(processor, "image_processor", None)

    def __call__(self, image: Image.Image, prompt: str, image_kwargs: dict | None = None) -> dict:
        if self.template is None and getattr(self.processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            placeholder = getattr(self.processor, "image_token", None) or "<image>"
            text = (self.template or placeholder + "\n{prompt}").format(prompt=prompt)
        return dict(self.processor(images=[image], text=text, return_tensors="pt", **(image_kwargs or {})))
