// The detector classes (nii/types.py CLASS_NAMES; a test keeps the two equal).
export const CLASS_NAMES = ["gun", "bullet", "knife", "scissors", "wrench", "pliers", "hammer", "lighter", "aerosol", "battery", "powerbank", "phone", "laptop", "bottle", "cigarettes"];
