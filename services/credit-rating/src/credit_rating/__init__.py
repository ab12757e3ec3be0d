"""Credit-rating service: 三好三强 / 三有三无 scorecards, 四个一 assessments, grades, credit lines, certificates (信用证) and the blacklist."""
