"""Turning one prompt with 0..N images (or a video's frames) into the keyword arguments of
``model.generate()``."""

from __future__ import annotations

from PIL import Image

from vlmtop.core.errors import SampleError


class InputBuilder:
    """Callable: ``builder(images, prompt, image_kwargs) -> dict`` of tensors for ``generate()``.

    ``images`` are the prompt's images in order (``[]`` for a text-only prompt; one PIL image
    is taken as a list of one). ``video``, where given, is one video's frames in order.
    ``image_kwargs`` go to the image processor with this one call (a knob such as
    ``max_pixels`` or ``image_splitting``), so arms that differ in them share one builder.
    """

    image_processor = None  # the transformers image processor, where there is one
    takes_video = False  # whether ``video`` is fed; a builder that cannot refuses it (no_video)

    def __call__(self, images: list[Image.Image] | Image.Image, prompt: str, image_kwargs: dict | None = None,
                 video: list[Image.Image] | None = None) -> dict:
        raise NotImplementedError


def no_video(family: str) -> SampleError:
    """The one refusal of a video by a family whose inputs vlmtop cannot build with one."""
    return SampleError(f"{family} models take no video here (vlmtop feeds video to qwen2_vl, qwen2_5_vl and "
                       "smolvlm, and to checkpoints whose processor has a video processor); give the frames "
                       "as images instead")


def image_list(images: list[Image.Image] | Image.Image) -> list[Image.Image]:
    return [images] if isinstance(images, Image.Image) else list(images)


class ProcessorInputs(InputBuilder):
    """Inputs from a transformers processor.

    With a checkpoint's chat template, the template places one image entry per image before
    the text (the generic path for any Hugging Face VLM). Without one (the built-in
    tokenizers), `template` is the family's prompt format, holding the image placeholder
    once: it is repeated once per image, and dropped for a text-only prompt.
    """

    def __init__(self, processor, template: str | None = None, video_template: tuple[str, str] | None = None):
        self.processor = processor
        self.template = template
        # (the prompt with {count}, {frames} and {prompt}, one frame's line with {second}):
        # a family that takes a video as frames in its image slots (SmolVLM)
        self.video_template = video_template
        self.image_processor = getattr(processor, "image_processor", None)
        self.takes_video = video_template is not None or self._chat_video

    @property
    def _chat_video(self) -> bool:
        """A checkpoint's processor with a chat template and a video processor of its own."""
        return self.template is None and bool(getattr(self.processor, "chat_template", None)) \
            and getattr(self.processor, "video_processor", None) is not None

    def __call__(self, images: list[Image.Image] | Image.Image, prompt: str, image_kwargs: dict | None = None,
                 video: list[Image.Image] | None = None) -> dict:
        images = image_list(images)
        if video:
            return self._video(images, video, prompt, image_kwargs or {})
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

    def _video(self, images: list[Image.Image], frames: list[Image.Image], prompt: str, image_kwargs: dict) -> dict:
        family = type(self.processor).__name__.removesuffix("Processor")
        if images:
            raise SampleError(f"a prompt with images and a video: {family} inputs take one or the other here")
        if self.video_template is not None:
            # SmolVLM's video prompt: each frame in an image slot, unsplit, with its time
            template, frame_line = self.video_template
            lines = "".join(frame_line.format(second=second) for second in range(len(frames)))
            text = template.format(count=len(frames), frames=lines, prompt=prompt)
            return dict(self.processor(images=[frames], text=text, return_tensors="pt",
                                       **{**image_kwargs, "do_image_splitting": False}))
        if self._chat_video:
            messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return dict(self.processor(videos=[frames], text=text, return_tensors="pt", **image_kwargs))
        raise no_video(family)
