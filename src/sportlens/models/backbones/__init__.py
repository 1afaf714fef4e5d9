"""Image/video backbones written here (torchvision cannot be used on these machines)."""
from .resnet import BACKBONES, ResNet, cross_modality_init, load_torchvision_weights, resnet18, resnet34, resnet50

__all__ = ["BACKBONES", "ResNet", "cross_modality_init", "load_torchvision_weights", "resnet18", "resnet34",
           "resnet50"]
