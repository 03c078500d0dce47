"""Turning one (image, prompt) into the keyword arguments of ``model.generate()``."""

from __future__ import annotations

from PIL import Image


class InputBuilder:
    """Callable: ``builder(image, prompt) -> dict`` of tensors for ``generate()``."""

    def __call__(self, image: Image.Image, prompt: str) -> dict:
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

    def __call__(self, image: Image.Image, prompt: str) -> dict:
        if self.template is None and getattr(self.processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            placeholder = getattr(self.processor, "image_token", None) or "<image>"
            text = (self.template or placeholder + "\n{prompt}").format(prompt=prompt)
        return dict(self.processor(images=[image], text=text, return_tensors="pt"))
