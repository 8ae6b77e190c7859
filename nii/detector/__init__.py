"""The detector: model, training, validation and ONNX export (the only package that imports torch).

    model.py       backbone (tiny CSP, depthwise-separable), PAN neck, decoupled head, box decoding
    loss.py        task-aligned assignment, quality BCE + complete-IoU losses
    config.py      typed training config (YAML, unknown keys are errors)
    augment.py     cv2 decoding, torchvision.transforms.v2 augmentation, Dataset
    train.py       ``train(cfg, resume=, init=)``: AdamW, warm-up + cosine, EMA, checkpoints, CSV + plot
    validate.py    COCO mAP of eager predictions (faster-coco-eval) during training
    checkpoint.py  checkpoint files, rebuilding a model, fine-tuning initialisation
    export.py      ``export(checkpoint, out, thresholds=)``: ONNX + model card

Submodules are imported on use; importing ``nii.detector`` alone does not import torch.
"""
